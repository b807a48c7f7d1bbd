"""Each ``ner`` verb of the command line, end to end on the bundled UNER sample (tiny BiLSTM models)."""
import json
from pathlib import Path

import pytest
import torch

from structkd.cli import main
from structkd.data import read_conllu_tags, read_text, read_uner
from structkd.persistence import load
from tiny_runs import tiny

DATA = Path(__file__).parent / "data"
TRAIN = str(DATA / "uner_en_ewt-ud-train.prerelease.sample.iob2")
DEV = str(DATA / "uner_en_ewt-ud-dev.sample.iob2")
TEST = str(DATA / "uner_en_ewt-ud-test.sample.iob2")
TRANSFER = str(DATA / "atis.sample.txt")


TINY = tiny()


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "teacher"
    assert main(["train", "ner", "--train", TRAIN, "--dev", DEV, "--output", str(out), "--epochs", "2", *TINY]) == 0
    return out


def test_train_writes_a_loadable_model_a_checkpoint_and_a_log(teacher):
    model = load(teacher / "best")
    assert model.tags[0] == "O" and "B-PER" in model.tags
    assert (teacher / "checkpoint" / "model.safetensors").is_file()
    summary = json.loads((teacher / "summary.json").read_text())
    assert summary["parameters"] == model.num_parameters() and 1 <= summary["epoch"] <= 2
    epochs = [json.loads(line) for line in (teacher / "train_log.jsonl").read_text().splitlines()]
    assert summary["train_seconds"] == pytest.approx(sum(e["seconds"] for e in epochs), abs=0.05)
    assert 0 < summary["train_seconds"] <= summary["seconds"]  # the epochs, within the call's wall time


def test_train_refuses_to_overwrite_and_resumes(teacher, capsys):
    assert main(["train", "ner", "--train", TRAIN, "--dev", DEV, "--output", str(teacher), "--epochs", "3",
                 *TINY]) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "ner", "--train", TRAIN, "--dev", DEV, "--output", str(teacher), "--epochs", "3",
                 "--resume", *TINY]) == 0
    assert f"resuming {teacher} after epoch 2" in capsys.readouterr().out
    epochs = [json.loads(line)["epoch"] for line in (teacher / "train_log.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]


@pytest.mark.parametrize("objective,head", [("structural", "maxent"), ("token", "crf"), ("posterior", "crf"),
                                            ("topk", "crf"), ("none", "crf"), ("rkl", "crf"), ("js", "maxent"),
                                            ("tvd", "crf")])
def test_distill_every_objective(teacher, tmp_path, objective, head):
    out = tmp_path / "student"
    args = ["distill", "ner", "--teacher", str(teacher / "best"), "--train", TRAIN, "--dev", DEV,
            "--output", str(out), "--objective", objective, "--student-head", head, "--epochs", "1",
            "--transfer", TRANSFER, "--temperature", "2", *tiny("student-")]
    assert main(args) == 0
    student = load(out / "best")
    assert student.head_name == head


def test_distill_keeps_the_teachers_targets_for_resumes_and_other_seeds(teacher, tmp_path, capsys):
    def distill(out, *extra):
        return main(["distill", "ner", "--teacher", str(teacher / "best"), "--train", TRAIN, "--dev", DEV,
                     "--output", str(tmp_path / out), "--epochs", "1", *extra, *tiny("student-")])

    assert distill("s0") == 0
    cache = tmp_path / "s0" / "teacher_targets"
    assert f"computed, kept in {cache}" in capsys.readouterr().out and cache.is_dir()
    assert distill("s0") == 1  # refused before the teacher runs
    printed = capsys.readouterr()
    assert "pass --resume" in printed.err and "teacher targets" not in printed.out
    assert distill("s0", "--epochs", "2", "--resume") == 0
    assert f"read from {cache}" in capsys.readouterr().out
    assert distill("s1", "--seed", "1", "--teacher-cache", str(cache)) == 0  # another seed, same targets
    assert f"read from {cache}" in capsys.readouterr().out
    assert distill("t1", "--objective", "token", "--teacher-cache", str(cache)) == 0  # other targets: replaced
    assert f"computed, kept in {cache}" in capsys.readouterr().out


def test_evaluate_prints_scores_and_writes_json(teacher, tmp_path, capsys):
    target = tmp_path / "scores.json"
    assert main(["evaluate", "ner", "--model", str(teacher / "best"), "--data", TEST, "--json", str(target)]) == 0
    out = capsys.readouterr().out
    assert "ALL" in out and "conlleval-style" in out
    scores = json.loads(target.read_text())
    assert 0 <= scores["f1"] <= 100 and set(scores["per_type"]) <= {"PER", "ORG", "LOC"}
    assert main(["evaluate", "ner", "--model", str(teacher / "best"), "--data", TEST, "--strict"]) == 0
    assert "strict BIO" in capsys.readouterr().out


def test_predict_keeps_every_column_and_comment(teacher, tmp_path):
    out = tmp_path / "pred.iob2"
    assert main(["predict", "ner", "--model", str(teacher / "best"), "--input", TEST, "--output", str(out)]) == 0
    original, predicted = read_uner(TEST), read_uner(str(out))
    assert [s.comments for s in predicted] == [s.comments for s in original]
    assert [[c[:2] + c[3:] for c in s.columns] for s in predicted] == [
        [c[:2] + c[3:] for c in s.columns] for s in original]


def test_predict_raw_text(teacher, tmp_path):
    out = tmp_path / "pred.tsv"
    assert main(["predict", "ner", "--model", str(teacher / "best"), "--input", TRANSFER, "--format", "text",
                 "--output", str(out)]) == 0
    lines = [line for line in out.read_text().splitlines() if line]
    assert len(lines) == sum(len(s.tokens) for s in read_text(TRANSFER))
    assert all(len(line.split("\t")) == 2 for line in lines)


def test_predict_conllu_writes_tags_into_misc(teacher, tmp_path):
    source, out = DATA / "ud_en_ewt-ud-test.sample.conllu", tmp_path / "pred.conllu"
    assert main(["predict", "ner", "--model", str(teacher / "best"), "--input", str(source), "--format", "conllu",
                 "--output", str(out)]) == 0
    before, after = source.read_text().splitlines(), out.read_text().splitlines()
    assert len(before) == len(after)
    for old, new in zip(before, after):
        fields = old.split("\t")
        if fields[0].isdecimal():  # a word: only MISC gains NER=
            assert new.split("\t")[:9] == fields[:9] and "NER=" in new.split("\t")[9]
        else:
            assert new == old
    tagged = read_conllu_tags(out)  # every word tagged, in IOB2
    assert sum(len(s.tokens) for s in tagged) == sum(1 for line in before if line.split("\t")[0].isdecimal())


def test_tag_options_scheme_label_map_and_strict(teacher, tmp_path, capsys):
    """A CoNLL-2003-style file in IOB2 with a MISC type: read with --tag-scheme, MISC mapped away, and
    refused under --strict-tags once it holds an I- tag that continues nothing."""
    conll = tmp_path / "iob2.txt"
    sentences = read_uner(TEST)[:20]
    rows = [[f"{token} X X {tag}" for token, tag in zip(s.tokens, s.tags)] for s in sentences]
    rows[0][0] = rows[0][0].rsplit(" ", 1)[0] + " B-MISC"
    conll.write_text("".join("\n".join(r) + "\n\n" for r in rows))
    common = ["evaluate", "ner", "--model", str(teacher / "best"), "--data", str(conll), "--format", "conll03"]
    scores = tmp_path / "scores.json"
    assert main(common + ["--tag-scheme", "IOB2", "--json", str(scores)]) == 0
    assert json.loads(scores.read_text())["per_type"]["MISC"]["support"] == 1
    assert main(common + ["--tag-scheme", "IOB2", "--label-map", "B-MISC=O", "--json", str(scores)]) == 0
    assert "MISC" not in json.loads(scores.read_text())["per_type"] and "20 sentences" in capsys.readouterr().out
    rows[0][0] = rows[0][0].rsplit(" ", 1)[0] + " I-PER"
    conll.write_text("".join("\n".join(r) + "\n\n" for r in rows))
    assert main(common + ["--tag-scheme", "IOB2", "--strict-tags"]) == 1
    assert f"{conll}:1:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(common + ["--label-map", "B-MISC"])
    assert "expected FROM=TO" in capsys.readouterr().err


def test_bad_input_names_the_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.iob2"
    bad.write_text("1\tJohn\tB-PER\t-\t-\n2\tlives\n\n")
    assert main(["train", "ner", "--train", str(bad), "--dev", DEV, "--output", str(tmp_path / "run"), *TINY]) == 1
    assert f"{bad}:2:" in capsys.readouterr().err


def test_distill_from_a_hugging_face_token_classifier(tmp_path):
    """Scenario 3: a local AutoModelForTokenClassification folder (a MaxEnt teacher) -> a CRF student."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from structkd.encoders.transformer import DEFAULT_MODEL, resolve_model

    tags = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    source, folder = resolve_model(DEFAULT_MODEL), tmp_path / "hf"
    AutoModelForTokenClassification.from_pretrained(
        source, local_files_only=True, num_labels=len(tags), id2label=dict(enumerate(tags)),
        label2id={t: i for i, t in enumerate(tags)}).save_pretrained(folder)
    AutoTokenizer.from_pretrained(source, local_files_only=True).save_pretrained(folder)
    out = tmp_path / "student"
    assert main(["distill", "ner", "--teacher", str(folder), "--train", TRAIN, "--dev", DEV, "--output", str(out),
                 "--student-head", "crf", "--epochs", "1", *tiny("student-")]) == 0
    assert load(out / "best").head_name == "crf"


def test_distill_a_gold_fraction_with_a_transfer_folder_glove_and_the_new_recipe(teacher, tmp_path, capsys):
    """The labelled-fraction protocol: half the training sentences keep their gold, the others and a folder of
    transfer text are labelled by the teacher; GloVe vectors, word dropout and a linear schedule."""
    folder = tmp_path / "transfer"
    folder.mkdir()
    (folder / "a.txt").write_text(Path(TRANSFER).read_text())
    (folder / "LICENSE.txt").write_text("not text to learn from\n")
    out = tmp_path / "fraction"
    assert main(["distill", "ner", "--teacher", str(teacher / "best"), "--train", TRAIN, "--dev", DEV,
                 "--output", str(out), "--epochs", "2", "--gold-fraction", "0.5", "--transfer", str(folder),
                 "--transfer-ratio", "2", "--lr-schedule", "linear", *tiny("student-"), "--student-word-vectors",
                 "glove", "--student-word-dropout", "0.2"]) == 0
    printed = capsys.readouterr().out
    kept, total = (int(x) for x in printed.split("gold annotation kept on ")[1].split(" training")[0].split(" of "))
    assert kept == total // 2 and "2 transfer batches per gold batch" in printed
    student = load(out / "best")
    assert student.encoder.pretrained is not None and student.encoder.options["word_dropout"] == 0.2
    from structkd.encoders.vectors import glove_vectors
    transfer_words = sorted(set(Path(TRANSFER).read_text().lower().split()))
    known = [w for w, c in zip(transfer_words, glove_vectors(transfer_words)[1].tolist()) if c]
    assert len(known) > 20 and all(w in student.encoder.pretrained for w in known)  # the transfer text's words
    assert json.loads((out / "train_config.json").read_text())["schedule"] == "linear"
    cache = out / "teacher_targets"  # the same sentences with all their gold: the same teacher targets
    assert main(["distill", "ner", "--teacher", str(teacher / "best"), "--train", TRAIN, "--dev", DEV,
                 "--output", str(tmp_path / "all-gold"), "--epochs", "1", "--transfer", str(folder),
                 "--teacher-cache", str(cache), *tiny("student-")]) == 0
    assert f"read from {cache}" in capsys.readouterr().out


@pytest.mark.parametrize("scope,exam", [("head", "exact"), ("all", "finite-difference")])
def test_interactive_distillation_trains_the_teacher_and_keeps_it_beside_the_student(teacher, tmp_path, scope, exam):
    out = tmp_path / "ikd"
    args = ["distill", "ner", "--teacher", str(teacher / "best"), "--train", TRAIN, "--dev", DEV, "--output", str(out),
            "--objective", "structural", "--epochs", "1", "--interactive", "--ikd-scope", scope, "--ikd-exam", exam,
            "--ikd-teacher-lr", "1e-3", *tiny("student-")]
    assert main(args) == 0
    before, after = load(teacher / "best").state_dict(), load(out / "teacher").state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and (scope == "all" or all(not k.startswith("encoder.") for k in changed))
    assert json.loads((out / "summary.json").read_text())["parameters"] == load(out / "best").num_parameters()


def test_interactive_distillation_refuses_objectives_without_teacher_gradients(teacher, tmp_path, capsys):
    args = ["distill", "ner", "--teacher", str(teacher / "best"), "--train", TRAIN, "--dev", DEV, "--output",
            str(tmp_path / "x"), "--objective", "topk", "--interactive", *tiny("student-")]
    assert main(args) == 1
    assert "--interactive needs a KD objective" in capsys.readouterr().err


def test_the_dev_score_of_the_best_epoch_is_the_saved_models(tmp_path):
    """What training reports for its best epoch is what the saved model scores: the decoding caches (character
    vectors by word type, the CRF's NumPy transitions) follow the fused AdamW steps of training.  They once
    kept the first evaluation's values, and every later epoch was scored with stale character vectors."""
    options = [*tiny(), "--char", "cnn", "--hidden", "32", "--lr", "0.02", "--max-sentences", "150"]
    out = tmp_path / "run"
    assert main(["train", "ner", "--train", TRAIN, "--dev", TRAIN, "--output", str(out), "--epochs", "5",
                 *options]) == 0
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epoch"] >= 2 and summary["score"] > 10  # a later epoch, scored past chance
    assert main(["evaluate", "ner", "--model", str(out / "best"), "--data", TRAIN, "--json",
                 str(tmp_path / "dev.json")]) == 0
    assert json.loads((tmp_path / "dev.json").read_text())["f1"] == pytest.approx(summary["score"], abs=1e-9)
    assert log[summary["epoch"] - 1]["dev_score"] == summary["score"]
