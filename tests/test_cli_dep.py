"""Each ``dep`` verb of the command line, end to end on the bundled UD sample (tiny BiLSTM parsers)."""
import json
from pathlib import Path

import pytest
import torch

from structkd.cli import main
from structkd.data import read_conllu_trees
from structkd.persistence import load
from tiny_runs import tiny

DATA = Path(__file__).parent / "data"
TREES = str(DATA / "ud_en_ewt-ud-test.sample.conllu")
TRANSFER = str(DATA / "atis.sample.txt")


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "teacher"
    assert main(["train", "dep", "--train", TREES, "--dev", TREES, "--output", str(out), "--epochs", "2",
                 "--structure", "nonprojective", *tiny()]) == 0
    return out


def test_train_writes_a_loadable_parser_and_a_summary(teacher):
    model = load(teacher / "best")
    assert model.structure == "nonprojective" and "nsubj" in model.rels
    assert json.loads((teacher / "summary.json").read_text())["parameters"] == model.num_parameters()


def test_projective_training_leaves_out_non_projective_trees(tmp_path, capsys):
    assert main(["train", "dep", "--train", TREES, "--dev", TREES, "--output", str(tmp_path / "p"), "--epochs", "1",
                 "--proj", *tiny()]) == 0
    assert "non-projective trees left out" in capsys.readouterr().out
    assert load(tmp_path / "p" / "best").structure == "projective"


@pytest.mark.parametrize("objective,structure", [("structural", "head-selection"), ("structural", "local"),
                                                 ("token", "head-selection"), ("none", "head-selection"),
                                                 ("rkl", "head-selection"), ("js", "nonprojective"),
                                                 ("tvd", "projective")])
def test_distill_every_objective(teacher, tmp_path, objective, structure):
    out = tmp_path / "student"
    assert main(["distill", "dep", "--teacher", str(teacher / "best"), "--train", TREES, "--dev", TREES,
                 "--output", str(out), "--objective", objective, "--student-structure", structure, "--epochs", "1",
                 "--transfer", TRANSFER, *tiny("student-")]) == 0
    assert load(out / "best").structure == structure


def test_evaluate_states_whether_punctuation_is_scored(teacher, tmp_path, capsys):
    target = tmp_path / "scores.json"
    assert main(["evaluate", "dep", "--model", str(teacher / "best"), "--data", TREES, "--json", str(target)]) == 0
    assert "punctuation excluded" in capsys.readouterr().out
    scores = json.loads(target.read_text())
    assert 0 <= scores["las"] <= scores["uas"] <= 100
    assert main(["evaluate", "dep", "--model", str(teacher / "best"), "--data", TREES, "--punct"]) == 0
    assert "punctuation included" in capsys.readouterr().out


def test_predict_replaces_only_heads_and_relations(teacher, tmp_path):
    out = tmp_path / "pred.conllu"
    assert main(["predict", "dep", "--model", str(teacher / "best"), "--input", TREES, "--output", str(out)]) == 0
    original, predicted = read_conllu_trees(TREES), read_conllu_trees(str(out), require_single_root=False)

    def without_head_and_rel(line):
        cols = line.split("\t")
        return cols[:6] + cols[8:] if len(cols) == 10 and cols[0].isdigit() else cols

    assert [[without_head_and_rel(x) for x in s.lines] for s in predicted] == [
        [without_head_and_rel(x) for x in s.lines] for s in original]


def test_predict_raw_text(teacher, tmp_path):
    out = tmp_path / "pred.conllu"
    assert main(["predict", "dep", "--model", str(teacher / "best"), "--input", TRANSFER, "--format", "text",
                 "--output", str(out)]) == 0
    assert len(read_conllu_trees(str(out), require_single_root=False)) == 100


def test_bad_input_names_the_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.conllu"
    bad.write_text("1\tJohn\tJohn\tPROPN\tNNP\t_\t7\tnsubj\t_\t_\n\n")
    assert main(["train", "dep", "--train", str(bad), "--dev", TREES, "--output", str(tmp_path / "r"), *tiny()]) == 1
    assert f"{bad}:1:" in capsys.readouterr().err


def test_distill_a_gold_fraction_distils_relations_from_the_unlabelled_rest(teacher, tmp_path, capsys):
    out = tmp_path / "fraction"
    assert main(["distill", "dep", "--teacher", str(teacher / "best"), "--train", TREES, "--dev", TREES,
                 "--output", str(out), "--objective", "structural", "--gold-fraction", "0.5", "--epochs", "1",
                 *tiny("student-")]) == 0
    assert "gold annotation kept on" in capsys.readouterr().out
    targets = sorted((out / "teacher_targets").glob("shard-*.safetensors"))
    from safetensors import safe_open
    with safe_open(targets[0], framework="pt") as shard:
        assert shard.metadata()["parts"] == "4"  # arcs, candidate heads, their weights, relation distributions


def test_interactive_distillation_of_a_parser(teacher, tmp_path):
    out = tmp_path / "ikd"
    assert main(["distill", "dep", "--teacher", str(teacher / "best"), "--train", TREES, "--dev", TREES,
                 "--output", str(out), "--objective", "structural", "--student-structure", "head-selection",
                 "--epochs", "1", "--interactive", "--ikd-every", "2", "--ikd-teacher-lr", "1e-3",
                 *tiny("student-")]) == 0
    before, after = load(teacher / "best").state_dict(), load(out / "teacher").state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(not k.startswith("encoder.") for k in changed)
