"""Taggers: each head's factorization, gold loss, decoding, and saving / loading model folders."""
import json
import os
import pickle

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from structkd import LinearChainCRF, MaxEnt, SpanSegmentation, allowed_transitions, persistence  # noqa: E402
from structkd.encoders import BiLSTMEncoder, TransformerEncoder  # noqa: E402
from structkd.encoders import transformer as transformer_module  # noqa: E402
from structkd.persistence import ModelFolderError  # noqa: E402
from structkd.schemes import entities_to_tags, tags_to_entities  # noqa: E402
from taggers import Tagger  # noqa: E402

WORDS = [["John", "Smith", "lives", "in", "New", "York", "."], ["Hi", "!"], ["Paris"]]
SCHEMES = {
    "BIO": (["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
            [["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"], ["O", "O"], ["B-LOC"]]),
    "BIOES": (["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"],
              [["B-PER", "E-PER", "O", "O", "B-LOC", "E-LOC", "O"], ["O", "O"], ["S-LOC"]]),
}
HEADS = ["crf", "maxent", "span"]
FACTORIZATIONS = {"crf": LinearChainCRF, "maxent": MaxEnt, "span": SpanSegmentation}


def bilstm_tagger(head="crf", scheme="BIO", seed=0, **options):
    torch.manual_seed(seed)
    encoder = BiLSTMEncoder.from_corpus(WORDS, word_dim=8, char_dim=4, char_size=6, hidden_size=6, num_layers=1)
    return Tagger(encoder, SCHEMES[scheme][0], head=head, dropout=0.0, **options)


def is_valid(tags, tag_set):
    """Whether a tag sequence keeps the transition constraints of ``tag_set``'s scheme."""
    start, transitions, end = allowed_transitions(tag_set)
    ids = [tag_set.index(t) for t in tags]
    return bool(start[ids[0]] and end[ids[-1]] and all(transitions[a, b] for a, b in zip(ids, ids[1:])))


# ----------------------------------------------------------------------------- heads
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("head", HEADS)
def test_each_head_gives_its_factorization_with_labels(head, scheme):
    tagger = bilstm_tagger(head, scheme)
    dist = tagger.factorization(WORDS)
    assert type(dist) is FACTORIZATIONS[head]
    assert dist.labels == (["PER", "LOC"] if head == "span" else SCHEMES[scheme][0])
    assert dist.lengths.tolist() == [7, 2, 1]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("head", HEADS)
def test_gold_loss_is_finite_and_backpropagates_everywhere(head, scheme):
    tagger = bilstm_tagger(head, scheme)
    loss = tagger.gold_loss(WORDS, SCHEMES[scheme][1])
    assert loss.dim() == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    for name, parameter in tagger.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_gold_loss_is_the_mean_negative_log_probability():
    tagger = bilstm_tagger("crf").eval()
    tags, gold = SCHEMES["BIO"]
    each = [tagger.gold_loss([w], [g]) for w, g in zip(WORDS, gold)]
    torch.testing.assert_close(tagger.gold_loss(WORDS, gold), torch.stack(each).mean())
    dist = tagger.factorization(WORDS[2:])
    probabilities = dist.marginals.sum(-2)[0, 0]  # one word: p(tag) is its marginal
    torch.testing.assert_close(each[2], -probabilities[tags.index("B-LOC")].log())


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("head", HEADS)
def test_decode_gives_tags_of_the_scheme(head, scheme):
    tag_set = SCHEMES[scheme][0]
    entities = 0
    for seed in range(4):
        tagger = bilstm_tagger(head, scheme, seed=seed)
        for parameter in tagger.head.parameters():
            torch.nn.init.normal_(parameter, std=2.0)  # opinionated scores, so that entities show up
        decoded = tagger.decode(WORDS)
        assert [len(t) for t in decoded] == [len(w) for w in WORDS]
        for tags in decoded:
            assert set(tags) <= set(tag_set)
            if head != "maxent":  # the CRF's constraints and the span decoder keep the scheme
                assert is_valid(tags, tag_set), tags
                assert entities_to_tags(tags_to_entities(tags, scheme), len(tags), scheme) == tags
            entities += len(tags_to_entities(tags, scheme))
    assert entities > 0


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("head", HEADS)
def test_decode_gives_the_best_output_of_the_factorization(head, scheme):
    """``Tagger.decode`` (the CRF head's runs in NumPy on the emissions) = the factorization's own decoder."""
    for seed in range(4):
        tagger = bilstm_tagger(head, scheme, seed=seed).eval()
        for parameter in tagger.head.parameters():
            torch.nn.init.normal_(parameter, std=2.0)
        with torch.no_grad():
            assert tagger.decode(WORDS) == tagger.head.tags(tagger.factorization(WORDS))
            if head == "crf":  # its NumPy transition scores follow an in-place update (an optimizer step)
                tagger.head.transitions.mul_(-1)
                assert tagger.decode(WORDS) == tagger.head.tags(tagger.factorization(WORDS))
        if head == "crf":  # and a fused AdamW step, which leaves the version counters where they were
            step = torch.optim.AdamW([tagger.head.transitions], lr=5.0, fused=True)
            tagger.head.transitions.grad = torch.randn_like(tagger.head.transitions)
            before = tagger.head.chain()[0].copy()
            step.step()
            assert not (tagger.head.chain()[0] == before).all()
            with torch.no_grad():
                assert tagger.decode(WORDS) == tagger.head.tags(tagger.factorization(WORDS))


def test_crf_head_forbids_the_transitions_its_scheme_forbids():
    tagger = bilstm_tagger("crf")
    tags = tagger.tags
    potentials = tagger.factorization(WORDS).log_potentials
    assert torch.isneginf(potentials[0, 1:, tags.index("O"), tags.index("I-PER")]).all()
    assert torch.isneginf(potentials[0, 0, 0, tags.index("I-LOC")])
    assert torch.isfinite(potentials[0, 1:, tags.index("B-PER"), tags.index("I-PER")]).all()
    with pytest.raises(ValueError, match="O -> I-PER"):
        tagger.gold_loss([["a", "b"]], [["O", "I-PER"]])


def test_crf_head_leaves_other_tag_sets_unconstrained():
    pos = ["NOUN", "VERB", "PUNCT", "PROPN", "ADP", "INTJ"]
    torch.manual_seed(0)
    tagger = Tagger(BiLSTMEncoder.from_corpus(WORDS, hidden_size=4, num_layers=1), pos, head="crf")
    assert torch.isfinite(tagger.factorization(WORDS).log_potentials).all()
    gold = [["PROPN", "PROPN", "VERB", "ADP", "PROPN", "PROPN", "PUNCT"], ["INTJ", "PUNCT"], ["PROPN"]]
    assert torch.isfinite(tagger.gold_loss(WORDS, gold))
    with pytest.raises(ValueError, match="BIO"):
        Tagger(tagger.encoder, pos, head="span")


def test_span_head_reads_gold_spans_and_respects_max_width():
    tagger = bilstm_tagger("span", "BIOES", max_width=2)
    assert tagger.head.gold(SCHEMES["BIOES"][1]) == [[(0, 1, 0), (4, 5, 1)], [], [(0, 0, 1)]]
    assert tagger.factorization(WORDS).max_width == 2
    with pytest.raises(ValueError, match="max_width=2"):
        tagger.gold_loss([["a", "b", "c"]], [["B-PER", "I-PER", "E-PER"]])
    with pytest.raises(ValueError, match="I-LOC"):
        Tagger(tagger.encoder, ["O", "B-PER", "I-PER", "B-LOC"], head="span")


def test_gold_tags_must_fit_the_sentences_and_the_tag_set():
    tagger = bilstm_tagger("maxent")
    with pytest.raises(ValueError, match="lengths"):
        tagger.gold_loss(WORDS[:1], [["O"]])
    with pytest.raises(KeyError, match="B-ORG"):
        tagger.gold_loss(WORDS[2:], [["B-ORG"]])
    with pytest.raises(ValueError, match="unknown head"):
        Tagger(tagger.encoder, tagger.tags, head="semicrf")


# ----------------------------------------------------------------------------- the transformer tagger
@pytest.fixture(scope="module")
def minilm_tagger():
    torch.manual_seed(0)
    return Tagger(TransformerEncoder(), SCHEMES["BIO"][0], head="crf")


def test_minilm_tagger_trains_and_decodes(minilm_tagger):
    minilm_tagger.train()
    minilm_tagger.zero_grad()
    loss = minilm_tagger.gold_loss(WORDS, SCHEMES["BIO"][1])
    loss.backward()
    assert torch.isfinite(loss)
    embeddings = minilm_tagger.encoder.model.get_input_embeddings().weight
    assert embeddings.grad is not None and embeddings.grad.abs().sum() > 0
    minilm_tagger.eval()
    assert all(is_valid(tags, minilm_tagger.tags) for tags in minilm_tagger.decode(WORDS))
    assert minilm_tagger.num_parameters() > 22_000_000


# ----------------------------------------------------------------------------- model folders
@pytest.fixture
def no_unpickling(monkeypatch):
    """Make every way of unpickling fail while a model loads."""
    def refuse(*args, **kwargs):
        raise AssertionError("loading a model unpickled something")

    for module, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")]:
        monkeypatch.setattr(module, name, refuse)


def assert_no_pickle(folder):
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert (folder / "config.json") in files and (folder / "model.safetensors") in files
    for path in files:
        assert path.suffix in {".json", ".safetensors", ".txt"}, path
        start = path.read_bytes()[:2]
        assert start[:1] != b"\x80" and start != b"PK", f"{path} looks like a pickle or a torch zip"


def assert_same_outputs(tagger, loaded):
    tagger.eval()
    loaded.eval()
    with torch.no_grad():
        assert torch.equal(tagger(WORDS).log_potentials, loaded(WORDS).log_potentials)
    assert tagger.decode(WORDS) == loaded.decode(WORDS)
    assert loaded.config() == tagger.config()


@pytest.mark.parametrize("head", HEADS)
def test_bilstm_tagger_round_trips_through_a_folder(head, tmp_path, no_unpickling):
    tagger = bilstm_tagger(head, "BIOES", **({"max_width": 3, "hidden_size": 5} if head == "span" else {}))
    persistence.save(tagger, tmp_path / "model")
    assert_no_pickle(tmp_path / "model")
    loaded = persistence.load(tmp_path / "model")
    assert type(loaded) is Tagger and type(loaded.encoder) is BiLSTMEncoder
    assert loaded.encoder.words == tagger.encoder.words
    assert_same_outputs(tagger, loaded)


def test_minilm_tagger_round_trips_without_its_source_folder(minilm_tagger, tmp_path, monkeypatch, no_unpickling):
    persistence.save(minilm_tagger, tmp_path / "model")
    assert_no_pickle(tmp_path / "model")
    assert (tmp_path / "model" / "encoder" / "config.json").is_file()

    def unavailable(model):
        raise AssertionError("loading a saved model read its source folder")

    monkeypatch.setattr(transformer_module, "resolve_model", unavailable)
    loaded = persistence.load(tmp_path / "model")
    assert type(loaded.encoder) is TransformerEncoder
    assert_same_outputs(minilm_tagger, loaded)


def break_weights(folder):
    (folder / "model.safetensors").unlink()


def corrupt_weights(folder):
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")


def remove_vocabulary(folder):
    (folder / "encoder" / "words.json").unlink()


def corrupt_config(folder):
    (folder / "config.json").write_text("{oops")


def drop_a_setting(folder):
    config = json.loads((folder / "config.json").read_text())
    del config["config"]["head"]
    (folder / "config.json").write_text(json.dumps(config))


def rename_a_weight(folder):
    from safetensors.torch import load_file, save_file

    state = load_file(folder / "model.safetensors")
    state["head.renamed"] = state.pop("head.transitions")
    save_file(state, folder / "model.safetensors")


@pytest.mark.parametrize("damage,message", [
    (break_weights, "'model.safetensors' is missing"),
    (corrupt_weights, "'model.safetensors' is not a readable safetensors file"),
    (remove_vocabulary, "'words.json' is missing"),
    (corrupt_config, "'config.json' is not valid JSON"),
    (drop_a_setting, "'config.json' lacks the setting 'head'"),
    (rename_a_weight, "do not fit"),
])
def test_loading_a_damaged_folder_names_the_folder_and_the_file(damage, message, tmp_path):
    folder = tmp_path / "model"
    persistence.save(bilstm_tagger("crf"), folder)
    damage(folder)
    with pytest.raises(ModelFolderError, match=message) as error:
        persistence.load(folder)
    assert str(folder) in str(error.value)


def test_unknown_classes_and_folders_are_reported(tmp_path):
    with pytest.raises(ModelFolderError, match="no such folder"):
        persistence.load(tmp_path / "nothing")
    folder = tmp_path / "model"
    persistence.save(bilstm_tagger("crf"), folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "class": "no-such-model"}))
    with pytest.raises(ModelFolderError, match="no-such-model"):
        persistence.load(folder)
    with pytest.raises(TypeError, match="not a registered model"):
        persistence.save(torch.nn.Linear(2, 2), tmp_path / "linear")
