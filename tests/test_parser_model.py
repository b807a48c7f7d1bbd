"""Parsers: each structure's factorization and scores, gold loss, decoding, training, KD and model folders."""
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from structkd import (  # noqa: E402
    HeadSelection, NonProjectiveDependencyCRF, ProjectiveDependencyCRF, SiblingMeanField, kd_loss, persistence,
)
from structkd.encoders import BiLSTMEncoder, TransformerEncoder  # noqa: E402
from structkd.structs.mst import is_tree  # noqa: E402
from parsers import STRUCTURES, Parser, is_projective  # noqa: E402
from parsers.trees import heads_tensor  # noqa: E402
from test_tagger_model import assert_no_pickle, no_unpickling  # noqa: E402,F401 (a fixture)

# Three projective sentences and a non-projective one (the arc 4 -> 10 crosses 2 -> 5).
WORDS = [["The", "cat", "sat", "on", "the", "mat", "."], ["Hi", "!"], ["Paris"]]
HEADS = [[2, 3, 0, 6, 6, 3, 3], [0, 1], [0]]
RELS = [["det", "nsubj", "root", "case", "det", "obl", "punct"], ["root", "punct"], ["root"]]
NONPROJECTIVE = (["John", "saw", "a", "dog", "yesterday", "which", "was", "a", "Yorkshire", "Terrier"],
                 [2, 0, 4, 2, 2, 10, 10, 10, 10, 4],
                 ["nsubj", "root", "det", "obj", "obl:tmod", "nsubj", "cop", "det", "compound", "acl:relcl"])
REL_SET = sorted({r for sentence in RELS + [NONPROJECTIVE[2]] for r in sentence})
FACTORIZATIONS = {"projective": ProjectiveDependencyCRF, "nonprojective": NonProjectiveDependencyCRF,
                  "local": HeadSelection, "head-selection": HeadSelection, "sibling": SiblingMeanField}
TREES = [s for s in STRUCTURES if s != "head-selection"]
def tiny_parser(structure="nonprojective", seed=0, **options):
    torch.manual_seed(seed)
    encoder = BiLSTMEncoder.from_corpus(WORDS + [NONPROJECTIVE[0]], word_dim=16, char_dim=4, char_size=6,
                                        hidden_size=16, num_layers=1, dropout=0.0)
    return Parser(encoder, REL_SET, structure, arc_size=32, rel_size=16, sib_size=8, dropout=0.0, mlp_dropout=0.0,
                  **options)


def training_data(structure):
    """Three sentences the structure can produce: the non-projective one replaces "Paris" unless projective."""
    if structure == "projective":
        return WORDS, HEADS, RELS
    return [WORDS[0], WORDS[1], NONPROJECTIVE[0]], [HEADS[0], HEADS[1], NONPROJECTIVE[1]], \
        [RELS[0], RELS[1], NONPROJECTIVE[2]]


# ----------------------------------------------------------------------------- structures and scores
def all_pair_rels(parser, scores):
    """``(B, N+1, N+1, R)`` label scores of every (dependent, head) pair, by the all-pairs biaffine."""
    return parser.rel_scorer.biaffine(scores.rel_dependents, scores.rel_heads)


def test_label_scores_of_given_heads_are_those_of_all_pairs():
    parser = tiny_parser("local").eval()
    scores = parser.scores(WORDS)
    heads = torch.randint(0, 8, (3, 8))
    expected = all_pair_rels(parser, scores)[torch.arange(3).view(3, 1), torch.arange(8), heads]  # (3, 8, R)
    torch.testing.assert_close(parser.rel_scores(scores, heads), expected)
    x = torch.randn(2, 5, parser.rel_scorer.dependent.linear.in_features)
    full = parser.rel_scorer(x)  # the same through the scorer's forward
    picked = torch.tensor([[0, 4, 1, 1, 2], [3, 0, 0, 4, 4]])
    torch.testing.assert_close(parser.rel_scorer.at_heads(*parser.rel_scorer.roles(x), picked),
                               full[torch.arange(2).view(2, 1), torch.arange(5), picked])


@pytest.mark.parametrize("structure", STRUCTURES)
def test_each_structure_gives_its_factorization_and_score_shapes(structure):
    parser = tiny_parser(structure)
    scores = parser.scores(WORDS)
    assert scores.arcs.shape == (3, 8, 8)
    assert all_pair_rels(parser, scores).shape == (3, 8, 8, len(REL_SET))
    assert scores.lengths.tolist() == [7, 2, 1]
    assert (scores.siblings.shape == (3, 8, 8, 8)) if structure == "sibling" else scores.siblings is None
    dist = parser.factorization(WORDS)
    assert type(dist) is FACTORIZATIONS[structure]
    assert dist.marginals.shape == (3, 8, 8)
    assert dist.lengths.tolist() == [7, 2, 1]
    with pytest.raises(ValueError, match="unknown structure"):
        Parser(parser.encoder, REL_SET, "eisner")


@pytest.mark.parametrize("structure", STRUCTURES)
def test_gold_loss_is_finite_and_backpropagates_to_the_encoder(structure):
    parser = tiny_parser(structure)
    loss = parser.gold_loss(WORDS, HEADS, RELS)
    assert loss.dim() == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    for name, parameter in parser.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("structure", STRUCTURES)
def test_gold_loss_is_the_mean_of_arc_and_label_losses(structure):
    parser = tiny_parser(structure).eval()
    # one word: its only possible head is the root, so the arc loss is 0 and the loss is the label's
    scores = parser.scores(WORDS[2:])
    label_nll = -all_pair_rels(parser, scores)[0, 1, 0].log_softmax(-1)[REL_SET.index("root")]
    torch.testing.assert_close(parser.gold_loss(WORDS[2:], HEADS[2:], RELS[2:]), label_nll)
    each = [parser.gold_loss([w], [h], [r]) for w, h, r in zip(WORDS, HEADS, RELS)]
    torch.testing.assert_close(parser.gold_loss(WORDS, HEADS, RELS), torch.stack(each).mean())
    if structure in ("projective", "nonprojective"):  # the arc loss is -log p(gold tree)
        scores = parser.scores(WORDS[:1])
        dist = parser.distribution(scores)
        arc_nll = -dist.log_prob_of(heads_tensor(HEADS[:1]))[0]
        rels = all_pair_rels(parser, scores)[0, torch.arange(1, 8), torch.tensor(HEADS[0])].log_softmax(-1)
        label_nll = -rels[torch.arange(7), torch.tensor([REL_SET.index(r) for r in RELS[0]])].sum()
        torch.testing.assert_close(each[0], arc_nll + label_nll)


def test_sentence_losses_of_some_rows_of_a_batch():
    """The gold term of distillation: per-sentence losses of the labelled rows, from the batch's scores."""
    parser = tiny_parser("projective").eval()
    scores = parser.scores(WORDS)
    rows = torch.tensor([True, False, True])
    losses = parser.sentence_losses(scores, [HEADS[0], HEADS[2]], [RELS[0], RELS[2]], [WORDS[0], WORDS[2]], rows)
    alone = [parser.gold_loss([WORDS[b]], [HEADS[b]], [RELS[b]]) for b in (0, 2)]
    torch.testing.assert_close(losses, torch.stack(alone))
    with pytest.raises(ValueError, match="scored sentences"):
        parser.sentence_losses(scores, HEADS[:2], RELS[:2], WORDS[:2], torch.tensor([0, 2]))


# ----------------------------------------------------------------------------- training and decoding
@pytest.mark.parametrize("structure", STRUCTURES)
def test_a_tiny_parser_learns_three_sentences(structure):
    words, heads, rels = training_data(structure)
    parser = tiny_parser(structure)
    optimizer = torch.optim.Adam(parser.parameters(), lr=3e-2)
    for step in range(1, 101):
        optimizer.zero_grad()
        parser.gold_loss(words, heads, rels).backward()
        optimizer.step()
        if step % 10 == 0 and parser.decode(words) == (heads, rels):
            break
    assert parser.decode(words) == (heads, rels)


@pytest.mark.parametrize("multiroot", [False, True])
@pytest.mark.parametrize("structure", STRUCTURES)
def test_decode_gives_trees_the_structure_allows(structure, multiroot):
    words = [[f"w{i}" for i in range(n)] for n in (9, 1, 5, 12)]
    lengths = torch.tensor([len(w) for w in words])
    greedy_trees = []
    for seed in range(3):
        parser = tiny_parser(structure, seed, multiroot=multiroot).eval()
        torch.nn.init.normal_(parser.arc_scorer.biaffine.weight, std=1.0)
        with torch.no_grad():
            scores = parser.scores(words)
        assert getattr(parser.distribution(scores), "multiroot", multiroot) == multiroot
        greedy_trees += is_tree(HeadSelection(scores.arcs, lengths).decode(), lengths, multiroot).tolist()
        heads, rels = parser.decode(words)
        assert [len(h) for h in heads] == [len(r) for r in rels] == [len(w) for w in words]
        assert all(set(r) <= set(REL_SET) for r in rels)
        for sentence in heads:
            assert all(0 <= h <= len(sentence) and h != m for m, h in enumerate(sentence, 1))
        if structure in TREES:
            assert is_tree(heads_tensor(heads), lengths, multiroot).all(), heads
        if structure == "projective":
            assert all(is_projective(sentence) for sentence in heads), heads
    assert not all(greedy_trees)  # the scores alone do not give trees: the decoders make them


def test_head_selection_decodes_without_the_tree_constraint():
    """The same scores give a greedy, cyclic head vector to "head-selection" and a tree to "local"."""
    local, greedy = tiny_parser("local"), tiny_parser("head-selection")
    arcs = torch.full((1, 4, 4), -5.0)
    arcs[0, 1, 2] = arcs[0, 2, 1] = 5.0  # words 1 and 2 prefer each other
    arcs[0, 3, 0] = 0.0
    scores = local.scores([["a", "b", "c"]])._replace(arcs=arcs)
    assert greedy.decode_heads(scores).tolist() == [[0, 2, 1, 0]]
    assert is_tree(local.decode_heads(scores), torch.tensor([3])).all()


# ----------------------------------------------------------------------------- invalid gold trees
@pytest.mark.parametrize("heads,rels,message", [
    ([[2, 0, 0]], [["nsubj", "root", "root"]], r"words \[2, 3\] are attached to the root; with multiroot=False"),
    ([[2, 3, 1]], [["nsubj", "root", "obj"]], r"not a tree: words \[1, 2, 3\] never reach the root"),
    ([[2, 0, 4]], [["nsubj", "root", "obj"]], r"word 3 has head 4"),
    ([[2, 0, 3]], [["nsubj", "root", "obj"]], r"word 3 has head 3"),
    ([[2, 0]], [["nsubj", "root"]], "gold heads of lengths"),
    ([[2, 0, 2]], [["nsubj", "root"]], "gold relations of lengths"),
])
def test_impossible_gold_trees_raise_naming_the_sentence(heads, rels, message):
    parser = tiny_parser("nonprojective")
    with pytest.raises(ValueError, match=message) as error:
        parser.gold_loss([["a", "cat", "sat"]], heads, rels)
    if "lengths" not in message:
        assert "gold sentence 0 of the batch ('a cat sat'" in str(error.value)


def test_projective_training_rejects_non_projective_trees():
    words, heads, rels = [WORDS[0], NONPROJECTIVE[0]], [HEADS[0], NONPROJECTIVE[1]], [RELS[0], NONPROJECTIVE[2]]
    assert is_projective(HEADS[0]) and not is_projective(NONPROJECTIVE[1])
    with pytest.raises(ValueError, match=r"gold sentence 1 .*John saw.* not projective.*structure='nonprojective'"):
        tiny_parser("projective").gold_loss(words, heads, rels)
    for structure in ("nonprojective", "local", "head-selection"):
        assert torch.isfinite(tiny_parser(structure).gold_loss(words, heads, rels))


def test_what_each_structure_accepts():
    two_roots = ([["a", "b"]], [[0, 0]], [["root", "root"]])
    cycle = ([["a", "b"]], [[2, 1]], [["root", "root"]])
    assert torch.isfinite(tiny_parser("nonprojective", multiroot=True).gold_loss(*two_roots))
    assert torch.isfinite(tiny_parser("projective", multiroot=True).gold_loss(*two_roots))
    for gold in (two_roots, cycle):  # head selection scores any head vector
        assert torch.isfinite(tiny_parser("head-selection").gold_loss(*gold))
    with pytest.raises(ValueError, match="not a tree"):
        tiny_parser("local", multiroot=True).gold_loss(*cycle)
    with pytest.raises(KeyError, match="nmod"):
        tiny_parser().gold_loss([["a"]], [[0]], [["nmod"]])


# ----------------------------------------------------------------------------- distillation
@pytest.mark.parametrize("teacher,student", [("nonprojective", "head-selection"), ("projective", "projective"),
                                             ("sibling", "local"), ("local", "nonprojective")])
def test_parsers_distill_into_each_other(teacher, student):
    teacher, student = tiny_parser(teacher, seed=1).eval(), tiny_parser(student, seed=2)
    with torch.no_grad():
        teacher_dist = teacher.factorization(WORDS)
    loss = kd_loss(teacher_dist, student.factorization(WORDS))
    assert loss.shape == (3,) and torch.isfinite(loss).all()
    loss.mean().backward()
    assert student.encoder.word_embed.weight.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- model folders
@pytest.mark.usefixtures("no_unpickling")
@pytest.mark.parametrize("structure", STRUCTURES)
def test_parser_round_trips_through_a_folder(structure, tmp_path):
    parser = tiny_parser(structure, multiroot=structure == "projective", iterations=2).eval()
    persistence.save(parser, tmp_path / "model")
    assert_no_pickle(tmp_path / "model")
    assert (tmp_path / "model" / "rels.json").is_file()
    loaded = persistence.load(tmp_path / "model").eval()
    assert type(loaded) is Parser and loaded.config() == parser.config() and loaded.rels == REL_SET
    with torch.no_grad():
        for mine, theirs in zip(parser.scores(WORDS), loaded.scores(WORDS)):
            assert (mine is None and theirs is None) or torch.equal(mine, theirs)
    assert loaded.decode(WORDS) == parser.decode(WORDS)


# ----------------------------------------------------------------------------- the MiniLM parser
def test_minilm_parser_trains_and_decodes():
    torch.manual_seed(0)
    parser = Parser(TransformerEncoder(), REL_SET, "nonprojective")
    loss = parser.gold_loss(WORDS, HEADS, RELS)
    loss.backward()
    assert torch.isfinite(loss)
    embeddings = parser.encoder.model.get_input_embeddings().weight
    assert embeddings.grad is not None and embeddings.grad.abs().sum() > 0
    heads, rels = parser.eval().decode(WORDS)
    assert is_tree(heads_tensor(heads), torch.tensor([7, 2, 1])).all()
    assert [len(r) for r in rels] == [7, 2, 1]
    assert parser.num_parameters() > 22_000_000


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("multiroot", [False, True])
def test_blank_factorization_shows_the_structure_without_running_the_encoder(structure, multiroot, monkeypatch):
    """What a teacher labelling sentences needs of its student: the type, options and padded shape."""
    parser = tiny_parser(structure, multiroot=multiroot).eval()
    with torch.no_grad():
        real = parser.factorization(WORDS)
        monkeypatch.setattr(parser.encoder, "forward", lambda *a: pytest.fail("the encoder ran"))
        blank = parser.blank_factorization(torch.tensor([len(w) for w in WORDS]))
    scores = "arc_scores" if structure == "sibling" else "log_potentials"
    assert type(blank) is type(real) and getattr(blank, scores).shape == getattr(real, scores).shape
    assert torch.equal(blank.lengths, real.lengths) and getattr(blank, "multiroot", None) == getattr(real, "multiroot", None)
