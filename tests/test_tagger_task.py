"""The NER distillation task: cached teacher marginals, the lam interpolation and transfer sentences."""
import pytest
import torch

from structkd import kd_from_marginals, project
from structkd.data import Sentence
from structkd.encoders import BiLSTMEncoder
from taggers.model import Tagger
from structkd.training import DistillationTask, Indexed, teacher_targets
from taggers.task import TaggingTask

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def sentence(tokens, tags=None):
    return Sentence(tokens=tokens, tags=tags, columns=[[t] for t in tokens], comments=[], path="mem", line=1)


def tagger(head, seed, hidden_size=8):
    torch.manual_seed(seed)
    corpus = [["John", "lives", "in", "Paris"], ["Hello", "there"]]
    encoder = BiLSTMEncoder.from_corpus(corpus, word_dim=8, char_encoder=None, hidden_size=hidden_size,
                                        num_layers=1, dropout=0.0)
    return Tagger(encoder, TAGS, head, dropout=0.0).eval()


def test_cached_targets_are_the_projected_teacher_marginals():
    teacher, student = tagger("crf", 0), tagger("maxent", 1)
    sents = [sentence(["John", "lives", "in", "Paris"]), sentence(["Hello"])]
    cached = teacher_targets(teacher, student, [s.tokens for s in sents], show_progress=False)
    with torch.no_grad():
        t_dist = teacher.factorization([s.tokens for s in sents])
        s_dist = student.factorization([s.tokens for s in sents])
    expected = project(t_dist, s_dist)
    assert torch.allclose(cached[0], expected[0, :4]) and torch.allclose(cached[1], expected[1, :1])


def test_loss_mixes_gold_and_transfer_sentences_as_documented():
    teacher, student = tagger("crf", 0), tagger("crf", 1)
    gold_sent = sentence(["John", "lives", "in", "Paris"], ["B-PER", "O", "O", "B-LOC"])
    transfer = sentence(["Hello", "there"])
    cached = teacher_targets(teacher, student, [gold_sent.tokens, transfer.tokens], show_progress=False)
    task = DistillationTask(TaggingTask(student), cached, "structural", lam=0.3)
    loss = task.loss([Indexed(0, gold_sent), Indexed(1, transfer)], progress=0.0)
    kd = [kd_from_marginals(cached[i].unsqueeze(0), student.factorization([s.tokens]))[0]
          for i, s in enumerate([gold_sent, transfer])]
    nll = student.gold_loss([gold_sent.tokens], [gold_sent.tags])
    assert torch.allclose(loss, ((0.3 * kd[0] + 0.7 * nll) + kd[1]) / 2, atol=1e-5)
    annealed = DistillationTask(TaggingTask(student), cached, "structural", anneal=1.0)
    assert torch.allclose(annealed.loss([Indexed(1, transfer)], progress=0.5), kd[1], atol=1e-5)


def test_streamed_targets_over_many_shards_give_the_in_memory_student_loss(tmp_path):
    """Transfer text larger than a batch and than a shard: the student's loss from the on-disk shards equals its
    loss from the targets computed in memory."""
    from structkd.training import cached_teacher_targets

    teacher, student = tagger("crf", 0), tagger("crf", 1)
    gold = [sentence(["John", "lives", "in", "Paris"], ["B-PER", "O", "O", "B-LOC"])]
    transfer = [sentence(["Hello", "there", "John"][: 1 + i % 3] + ["Paris"] * (i % 4)) for i in range(70)]
    words = [s.tokens for s in gold + transfer]
    streamed, _ = cached_teacher_targets(tmp_path, teacher, student, words, show_progress=False, shard_size=16)
    in_memory = teacher_targets(teacher, student, words, batch_size=64, show_progress=False)
    examples = [Indexed(i, s) for i, s in enumerate(gold + transfer)]
    losses = [DistillationTask(TaggingTask(student), targets, "structural", lam=0.5).loss(examples, 0.0)
              for targets in (streamed, in_memory)]
    assert len(list(tmp_path.glob("shard-*"))) == 5
    torch.testing.assert_close(losses[0], losses[1], atol=1e-6, rtol=1e-6)


def test_hugging_face_token_classifier_is_a_maxent_teacher(tmp_path):
    """A local AutoModelForTokenClassification folder teaches: first-subword logits as a MaxEnt."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from structkd import MaxEnt
    from structkd.encoders.transformer import DEFAULT_MODEL, resolve_model
    from taggers.hf_teacher import load_teacher

    source = resolve_model(DEFAULT_MODEL)
    torch.manual_seed(0)
    hf = AutoModelForTokenClassification.from_pretrained(
        source, local_files_only=True, num_labels=len(TAGS), id2label=dict(enumerate(TAGS)),
        label2id={t: i for i, t in enumerate(TAGS)}).eval()
    hf.save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    tokenizer.save_pretrained(tmp_path)
    teacher = load_teacher(tmp_path)
    words = ["John", "Smithson", "lives", "in", "Paris"]
    with torch.no_grad():
        dist = teacher.factorization([words])
        encoding = tokenizer([words], is_split_into_words=True, return_tensors="pt")
        logits = hf(**encoding).logits[0]
    firsts = [encoding.word_ids(0).index(w) for w in range(len(words))]
    assert isinstance(dist, MaxEnt) and dist.labels == TAGS
    assert torch.allclose(dist.log_potentials[0], logits[firsts], atol=1e-4)


@pytest.mark.parametrize("head", ["crf", "maxent", "span"])
def test_blank_factorization_shows_the_output_layer_without_running_the_encoder(head, monkeypatch):
    """What a teacher labelling sentences needs of its student: the head's type, labels and padded shape."""
    student = tagger(head, 1)
    words = [["John", "lives", "in", "Paris"], ["Hello"]]
    with torch.no_grad():
        real = student.factorization(words)
        monkeypatch.setattr(student.encoder, "forward", lambda *a: pytest.fail("the encoder ran"))
        blank = student.blank_factorization(torch.tensor([4, 1]))
    assert type(blank) is type(real) and blank.log_potentials.shape == real.log_potentials.shape
    assert torch.equal(blank.lengths, real.lengths) and blank.labels == real.labels
