"""Bad input of every class a user meets, through the command line: each ends in one clear line on stderr and a
non-zero exit (1 for a bad file, folder or run; 2 for a bad option value), never a traceback, and a model folder
can make the program import nothing of its choosing."""
import json
import shutil
import sys
from pathlib import Path

import pytest

from structkd.cli import main
from structkd.persistence import ModelFolderError, load
from tiny_runs import tiny

DATA = Path(__file__).parent / "data"
TRAIN, DEV = str(DATA / "uner_en_ewt-ud-train.prerelease.sample.iob2"), str(DATA / "uner_en_ewt-ud-dev.sample.iob2")
CONLLU = str(DATA / "ud_en_ewt-ud-test.sample.conllu")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A finished tiny tagger run and a finished tiny parser run."""
    root = tmp_path_factory.mktemp("bad-input")
    assert main(["train", "ner", "--train", TRAIN, "--dev", DEV, "--epochs", "1", *tiny(), "--output",
                 str(root / "tagger")]) == 0
    assert main(["train", "dep", "--train", CONLLU, "--dev", CONLLU, "--epochs", "1", *tiny(), "--output",
                 str(root / "parser")]) == 0
    return root


def broken_copy(models, tmp_path, name, breaking):
    """A copy of the tagger's model folder with ``breaking(folder)`` applied."""
    folder = tmp_path / name
    shutil.copytree(models / "tagger" / "best", folder)
    breaking(folder)
    return folder


def train_ner(output, *extra):
    return ["train", "ner", "--train", TRAIN, "--dev", DEV, "--epochs", "1", *tiny(), "--output", str(output), *extra]


def fails_with(capsys, argv, status, *fragments):
    """Run ``argv``: it must exit with ``status`` (returned, or through argparse) and print ``fragments``."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == status, err
    assert "Traceback" not in err and all(f in err for f in fragments), err
    if status == 1:
        assert err.startswith("structkd: error: ") and err.count("\n") == 1, err


def test_paths(models, tmp_path, capsys):
    fails_with(capsys, ["train", "ner", "--train", "/no/such.iob2", "--dev", DEV, "--output", str(tmp_path / "a"),
                        *tiny()], 1, "/no/such.iob2: No such file or directory (check the path)")
    fails_with(capsys, ["train", "ner", "--train", str(tmp_path), "--dev", DEV, "--output", str(tmp_path / "b"),
                        *tiny()], 1, f"{tmp_path}: Is a directory")
    (tmp_path / "file").write_text("x")
    fails_with(capsys, train_ner(tmp_path / "file" / "run"), 1, "Not a directory (a part of this path is a file")
    fails_with(capsys, ["predict", "ner", "--model", str(models / "tagger" / "best"), "--input", DEV, "--output",
                        str(tmp_path / "file" / "out.iob2")], 1, "Not a directory")
    fails_with(capsys, ["evaluate", "ner", "--model", str(models / "tagger" / "best"), "--data", "/no/such.iob2"],
               1, "/no/such.iob2: No such file or directory")


@pytest.mark.parametrize("name,breaking,message", [
    ("no-weights", lambda f: (f / "model.safetensors").unlink(), "the file 'model.safetensors' is missing"),
    ("bad-weights", lambda f: (f / "model.safetensors").write_bytes(b"garbage"), "not a readable safetensors"),
    ("no-config", lambda f: (f / "config.json").unlink(), "the file 'config.json' is missing"),
    ("bad-config", lambda f: (f / "config.json").write_text("{not json"), "'config.json' is not valid JSON"),
    ("config-list", lambda f: (f / "config.json").write_text("[1, 2]"), "lacks 'class' or 'config'"),
])
def test_broken_model_folders(models, tmp_path, capsys, name, breaking, message):
    folder = broken_copy(models, tmp_path, name, breaking)
    fails_with(capsys, ["evaluate", "ner", "--model", str(folder), "--data", DEV], 1, message)
    fails_with(capsys, ["distill", "ner", "--teacher", str(folder), "--train", TRAIN, "--dev", DEV, "--output",
                        str(tmp_path / f"{name}-student"), *tiny("student-")], 1, str(folder))
    fails_with(capsys, ["evaluate", "ner", "--model", str(tmp_path / "none"), "--data", DEV], 1, "no such folder")


def test_a_model_of_the_other_task(models, capsys):
    fails_with(capsys, ["evaluate", "ner", "--model", str(models / "parser" / "best"), "--data", DEV], 1,
               "holds a parser model, not a tagger")
    fails_with(capsys, ["predict", "dep", "--model", str(models / "tagger" / "best"), "--input", CONLLU, "--output",
                        "x.conllu"], 1, "holds a tagger model, not a parser")


def test_a_model_folder_cannot_choose_a_module_to_import(models, tmp_path, capsys, monkeypatch):
    """``config.json`` names a module, but loading resolves the class by its registered name only: a module on
    the path that leaves a mark when imported is never imported."""
    mark = tmp_path / "imported"
    (tmp_path / "planted_module.py").write_text(f"open({str(mark)!r}, 'w').write('x')\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def rename(folder, name):
        config = json.loads((folder / "config.json").read_text())
        config.update({"class": name, "module": "planted_module"})
        (folder / "config.json").write_text(json.dumps(config))

    folder = broken_copy(models, tmp_path, "planted", lambda f: rename(f, "planted"))
    fails_with(capsys, ["evaluate", "ner", "--model", str(folder), "--data", DEV], 1, "holds a planted model")
    with pytest.raises(ModelFolderError, match="no model class is registered as 'planted'"):
        load(folder)  # any kind of model: the name is looked up among the registered ones
    folder = broken_copy(models, tmp_path, "odd-module", lambda f: rename(f, "tagger"))
    assert main(["evaluate", "ner", "--model", str(folder), "--data", DEV]) == 0
    assert not mark.exists() and "planted_module" not in sys.modules


@pytest.mark.parametrize("option,value,message", [
    ("--batch-size", "0", "it must lie in [1, inf)"), ("--epochs", "0", "[1, inf)"), ("--lr", "-1", "(0, inf)"),
    ("--threads", "0", "[1, inf)"), ("--max-sentences", "0", "[1, inf)"), ("--patience", "0", "[1, inf)"),
    ("--gold-fraction", "1.5", "(0, 1]"), ("--warmup", "1", "[0, 1)"), ("--word-dropout", "-0.1", "[0, 1)"),
    ("--epochs", "two", "'two' is not an integer"), ("--lr", "fast", "'fast' is not a number"),
])
def test_option_values_out_of_range(tmp_path, capsys, option, value, message):
    fails_with(capsys, train_ner(tmp_path / "run", option, value), 2, f"argument {option}:", message)


@pytest.mark.parametrize("option,value", [("--lam", "1.5"), ("--temperature", "0"), ("--transfer-ratio", "0"),
                                          ("--topk", "0"), ("--wid-interval", "0"), ("--student-hidden", "0")])
def test_distillation_option_values_out_of_range(models, tmp_path, capsys, option, value):
    fails_with(capsys, ["distill", "ner", "--teacher", str(models / "tagger" / "best"), "--train", TRAIN, "--dev",
                        DEV, "--output", str(tmp_path / "s"), *tiny("student-"), option, value], 2, f"argument {option}")


def test_resume_errors(models, tmp_path, capsys):
    fails_with(capsys, train_ner(tmp_path / "fresh", "--resume"), 1, "nothing to resume")
    assert not (tmp_path / "fresh" / "checkpoint").exists()
    run = tmp_path / "run"
    shutil.copytree(models / "tagger", run)
    fails_with(capsys, train_ner(run), 1, "already holds a run", "pass --resume")
    fails_with(capsys, train_ner(run, "--resume", "--lr", "0.5"), 1, "was started with other settings (lr ")
    fails_with(capsys, train_ner(run, "--resume", "--head", "maxent"), 1, "cannot restore the checkpoint")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(models / "tagger", corrupt)
    (corrupt / "checkpoint" / "model.safetensors").write_bytes(b"bad")
    fails_with(capsys, train_ner(corrupt, "--resume", "--epochs", "2"), 1, "cannot restore the checkpoint")


def test_a_finished_run_resumed_says_so_and_its_log_has_no_duplicate(models, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(models / "tagger", run)
    log = run / "train_log.jsonl"
    log.write_text(log.read_text() + json.dumps({"epoch": 2, "train_loss": 1.0}) + "\n")  # killed after logging
    assert main(train_ner(run, "--resume")) == 0
    out = capsys.readouterr().out
    assert f"resuming {run} after epoch 1" in out and "nothing is left to train" in out
    assert [json.loads(line)["epoch"] for line in log.read_text().splitlines()] == [1]
    assert main(train_ner(run, "--resume", "--epochs", "2")) == 0
    assert [json.loads(line)["epoch"] for line in log.read_text().splitlines()] == [1, 2]


def unannotated(source: Path, target: Path, columns: list[int]) -> None:
    """``source`` with the ``columns`` of every token line replaced by ``_``, and a comment after the last
    sentence."""
    lines = []
    for line in source.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) > max(columns) and fields[0][:1].isdigit():
            for column in columns:
                fields[column] = "_"
        lines.append("\t".join(fields))
    target.write_text("\n".join(lines) + "\n\n# a comment after the last sentence\n")


def same_but(written: Path, read: Path, columns: list[int]) -> bool:
    """Whether ``written`` equals ``read`` in every byte but the ``columns`` of the token lines."""
    def masked(path):
        return [[f for i, f in enumerate(line.split("\t")) if i not in columns or not line[:1].isdigit()]
                for line in path.read_text().splitlines()]
    return masked(written) == masked(read)


def test_predict_tags_and_parses_files_without_annotation(models, tmp_path, capsys):
    untagged, unparsed = tmp_path / "untagged.iob2", tmp_path / "unparsed.conllu"
    unannotated(Path(DEV), untagged, [2])
    unannotated(Path(CONLLU), unparsed, [6, 7])
    assert main(["predict", "ner", "--model", str(models / "tagger" / "best"), "--input", str(untagged),
                 "--output", str(tmp_path / "tagged.iob2")]) == 0
    tagged = tmp_path / "tagged.iob2"
    assert same_but(tagged, untagged, [2])
    tags = [line.split("\t")[2] for line in tagged.read_text().splitlines() if line[:1].isdigit()]
    assert "_" not in tags and set(tags) <= {"O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"}
    assert tagged.read_text().endswith("# a comment after the last sentence\n")
    assert main(["predict", "dep", "--model", str(models / "parser" / "best"), "--input", str(unparsed),
                 "--output", str(tmp_path / "parsed.conllu")]) == 0
    parsed = tmp_path / "parsed.conllu"
    assert same_but(parsed, unparsed, [6, 7])
    heads = [line.split("\t")[6] for line in parsed.read_text().splitlines() if line.split("\t")[0].isdigit()]
    assert heads and all(h.isdigit() for h in heads)
    assert parsed.read_text().endswith("# a comment after the last sentence\n")
    fails_with(capsys, ["evaluate", "dep", "--model", str(models / "parser" / "best"), "--data", str(unparsed)], 1,
               f"{unparsed}:", "HEAD '_'")


@pytest.mark.parametrize("name,text,message", [
    ("extra-column", "1\tJohn\tB-PER\t-\t-\tsurplus\n2\tran\tO\n\n", ":1: 6 columns; expected at least 3 and at most 5"),
    ("duplicate-id", "1\tJohn\tB-PER\n1\tran\tO\n\n", ":2: token id '1' in column 0; expected 2"),
    ("underscore-tag", "1\tJohn\t_\n\n", ":1:"),
])
def test_uner_training_files_that_cannot_be_read_right(tmp_path, capsys, name, text, message):
    bad = tmp_path / f"{name}.iob2"
    bad.write_text(text)
    fails_with(capsys, ["train", "ner", "--train", str(bad), "--dev", DEV, *tiny(), "--output", str(tmp_path / "r")],
               1, f"{bad}{message}")


@pytest.mark.parametrize("deprel", ["_", ""])
def test_a_tree_without_a_relation_is_not_trained_on(tmp_path, capsys, deprel):
    bad = tmp_path / "bad.conllu"
    bad.write_text(f"1\tJohn\t_\t_\t_\t_\t2\tnsubj\t_\t_\n2\truns\t_\t_\t_\t_\t0\t{deprel}\t_\t_\n\n")
    fails_with(capsys, ["train", "dep", "--train", str(bad), "--dev", CONLLU, *tiny(), "--output",
                        str(tmp_path / "r")], 1, f"{bad}:2: DEPREL", "expected a relation")


def test_a_kill_while_a_model_folder_is_written_leaves_the_old_one_whole(models, tmp_path, monkeypatch):
    import structkd.persistence as persistence

    folder = tmp_path / "best"
    shutil.copytree(models / "tagger" / "best", folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    model = load(folder)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(persistence, "save_file", killed)
    with pytest.raises(KeyboardInterrupt):
        persistence.save(model, folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
    load(folder)


def test_a_full_disk_is_one_line_and_the_run_resumes(tmp_path, capsys, monkeypatch):
    """The disk fills up while epoch 2's checkpoint is written: one line, exit 1; epoch 1's checkpoint is whole and
    the run resumes from it once there is room."""
    import errno

    import structkd.training.checkpoint as checkpoint

    real, calls = checkpoint.save_file, {"n": 0}

    def filling(tensors, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # model, optimizer, RNG of epoch 1; then epoch 2's model
            raise OSError(errno.ENOSPC, "No space left on device", path)
        return real(tensors, path, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "save_file", filling)
    fails_with(capsys, train_ner(tmp_path / "run", "--epochs", "2"), 1, "No space left on device (free some disk")
    monkeypatch.setattr(checkpoint, "save_file", real)
    assert json.loads((tmp_path / "run" / "checkpoint" / "trainer.json").read_text())["epoch"] == 1
    assert main(train_ner(tmp_path / "run", "--epochs", "2", "--resume")) == 0
    assert json.loads((tmp_path / "run" / "checkpoint" / "trainer.json").read_text())["epoch"] == 2


def test_a_transformer_folder_with_pickled_weights_is_refused_without_unpickling(tmp_path, capsys, monkeypatch):
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from structkd.encoders.transformer import DEFAULT_MODEL, resolve_model

    folder = tmp_path / "pickled"
    model = BertModel(BertConfig(hidden_size=16, num_attention_heads=2, intermediate_size=32, num_hidden_layers=1))
    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL), local_files_only=True).save_pretrained(folder)

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", no_unpickling)
    fails_with(capsys, train_ner(tmp_path / "run", "--encoder", "transformer", "--transformer", str(folder)), 1,
               f"{folder}: no *.safetensors weights (structkd never unpickles")
    fails_with(capsys, train_ner(tmp_path / "run2", "--encoder", "transformer", "--transformer",
                                 str(tmp_path / "none")), 1, "no such transformers model folder")


def test_two_runs_never_write_one_folder(tmp_path, capsys):
    """A run folder held by a live process is refused; one left by a dead process is taken over."""
    import subprocess
    import sys as system

    other = subprocess.Popen([system.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "run.lock").write_text(f"{other.pid}\n")
        fails_with(capsys, train_ner(tmp_path / "run"), 1, f"is being written by another run (process {other.pid})")
        assert not (tmp_path / "run" / "checkpoint").exists()
    finally:
        other.kill()
        other.wait()
    assert main(train_ner(tmp_path / "run")) == 0  # the holder is gone
    assert main(train_ner(tmp_path / "run", "--resume", "--epochs", "2")) == 0  # this process's own lock
