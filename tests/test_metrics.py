"""Entity metrics against hand-computed values."""
import pytest

from structkd.metrics import entity_scores


def test_entity_scores_micro_and_per_type():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    scores = entity_scores(gold, pred)
    # 3 gold entities, 3 predicted, 2 correct
    assert scores["precision"] == pytest.approx(200 / 3) and scores["recall"] == pytest.approx(200 / 3)
    assert scores["support"] == 3
    assert scores["per_type"]["PER"]["f1"] == 100 and scores["per_type"]["LOC"]["recall"] == 0
    assert scores["per_type"]["ORG"]["precision"] == 50


def test_strict_mode_rejects_ill_formed_entities():
    gold = [["B-PER", "I-PER"]]
    pred = [["I-PER", "I-PER"]]  # conlleval accepts an entity starting with I-, strict IOB2 does not
    assert entity_scores(gold, pred)["f1"] == 100
    assert entity_scores(gold, pred, strict_scheme="BIO")["f1"] == 0


def test_mismatched_inputs_raise():
    with pytest.raises(ValueError, match="differ"):
        entity_scores([["O"]], [["O", "O"]])
    with pytest.raises(ValueError, match="unknown strict scheme"):
        entity_scores([["O"]], [["O"]], strict_scheme="XYZ")
