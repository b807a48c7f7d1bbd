"""Attachment scores against hand-computed values, with and without punctuation."""
import pytest

from structkd.attachment import attachment_scores, is_punctuation
from structkd.data import read_conllu_trees
from test_trees_io import SAMPLE

WORDS = [["The", "cat", "sat", "."], ["Hi", "!", "..."], ["--"]]
GOLD_HEADS = [[2, 3, 0, 3], [0, 1, 1], [0]]
GOLD_RELS = [["det", "nsubj", "root", "punct"], ["root", "punct", "punct"], ["root"]]
PRED_HEADS = [[3, 3, 0, 2], [0, 1, 2], [0]]
PRED_RELS = [["det", "obj", "root", "punct"], ["root", "discourse", "punct"], ["punct"]]


@pytest.mark.parametrize("word, punctuation", [
    (".", True), ("...", True), ("--", True), ("\u201c", True), ("%", True), (":)", True), ("_", True),
    ("$", False), ("<", False), ("|", False), ("a.", False), ("1", False),
])
def test_punctuation_is_every_character_unicode_p(word, punctuation):
    assert is_punctuation(word) == punctuation


def test_scores_without_punctuation():
    # scored: The (wrong head), cat (right head, wrong relation), sat (right); Hi (right); nothing in "--".
    # Complete: sentence 1 neither; sentence 2 both; sentence 3 both (no scored word, as in SuPar).
    scores = attachment_scores(GOLD_HEADS, GOLD_RELS, PRED_HEADS, PRED_RELS, WORDS)
    assert scores == pytest.approx({"uas": 75.0, "las": 50.0, "ucm": 200 / 3, "lcm": 200 / 3, "words": 4,
                                    "punct_excluded": True})


def test_scores_with_punctuation():
    # heads right: cat, sat | Hi, ! | -- = 5 of 8; relations too: sat | Hi = 2 of 8.
    # Complete: only sentence 3 unlabeled ("--" has the right head, the wrong relation).
    scores = attachment_scores(GOLD_HEADS, GOLD_RELS, PRED_HEADS, PRED_RELS, WORDS, punct=True)
    assert scores == pytest.approx({"uas": 62.5, "las": 25.0, "ucm": 100 / 3, "lcm": 0.0, "words": 8,
                                    "punct_excluded": False})


def test_gold_against_itself_on_the_sample():
    trees = read_conllu_trees(SAMPLE)
    heads, rels, words = ([getattr(tree, name) for tree in trees] for name in ("heads", "rels", "words"))
    scores = attachment_scores(heads, rels, heads, rels, words)
    assert (scores["uas"], scores["las"], scores["ucm"], scores["lcm"]) == (100, 100, 100, 100)
    assert scores["words"] == sum(not is_punctuation(word) for sentence in words for word in sentence)
    assert attachment_scores(heads, rels, heads, rels, words, punct=True)["words"] == sum(map(len, words))


def test_nothing_to_score_and_mismatched_inputs():
    assert attachment_scores([], [], [], [], []) == {"uas": 0.0, "las": 0.0, "ucm": 0.0, "lcm": 0.0, "words": 0,
                                                     "punct_excluded": True}
    with pytest.raises(ValueError, match=r"\[3, 3, 2, 3, 3\] sentences"):
        attachment_scores(GOLD_HEADS, GOLD_RELS, PRED_HEADS[:2], PRED_RELS, WORDS)
    with pytest.raises(ValueError, match=r"sentence 1: lengths \[3, 3, 3, 3, 2\]"):
        attachment_scores(GOLD_HEADS, GOLD_RELS, PRED_HEADS, PRED_RELS, [WORDS[0], ["Hi", "!"], WORDS[2]])
