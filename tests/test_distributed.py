"""Training over several processes (structkd.training.distributed), launched by torchrun inside the tests: two gloo
CPU processes train and distill the same model as one process with the same global batch (within 1e-6, no
dropout), gather evaluation outputs in the sentences' order, and a run killed mid-epoch resumes with another
number of processes."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from structkd.cli import main

DATA = Path(__file__).parent / "data"
TRAIN, DEV = str(DATA / "uner_en_ewt-ud-train.prerelease.sample.iob2"), str(DATA / "uner_en_ewt-ud-dev.sample.iob2")
CONLLU = str(DATA / "ud_en_ewt-ud-test.sample.conllu")
#: a tiny BiLSTM without any dropout, so that one process and two draw the same model
MODEL = ["--encoder", "bilstm", "--hidden", "16", "--layers", "1", "--word-dim", "16", "--char", "cnn",
         "--word-vectors", "none", "--dropout", "0", "--word-dropout", "0"]
STUDENT = [f"--student-{x[2:]}" if x.startswith("--") else x for x in MODEL]
COMMON = ["--max-sentences", "40", "--batch-size", "16", "--quiet", "--threads", "1"]
ROOT = Path(__file__).resolve().parents[1]


def torchrun(argv, processes=2, wait=True):
    """``structkd ARGV`` under ``torchrun --nproc-per-node PROCESSES`` (a new process group, so it can be killed)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
               "-m", "structkd.cli", *argv]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    if not wait:
        return process
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    return output


def weights(run: Path) -> dict:
    return load_file(run / "best" / "model.safetensors")


def assert_same_run(a: Path, b: Path, weight_tolerance: float | None = 1e-6):
    """The same dev scores and training losses (within 1e-6 relative) every epoch, and (unless ``weight_tolerance``
    is None) the same weights within it."""
    logs = [[json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()] for run in (a, b)]
    assert [r["dev_score"] for r in logs[0]] == [r["dev_score"] for r in logs[1]]
    assert all(abs(x["train_loss"] - y["train_loss"]) <= 1e-6 * abs(x["train_loss"]) for x, y in zip(*logs))
    if weight_tolerance is not None:
        first, second = weights(a), weights(b)
        assert first.keys() == second.keys()
        assert max((first[k] - second[k]).abs().max().item() for k in first) <= weight_tolerance


def test_the_summed_shard_gradients_are_the_batch_gradient():
    """One step of gold training and of structural KD (float64): the gradient summed over 2 processes' weighted
    shards equals the whole batch's."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
               str(Path(__file__).parent / "distributed_gradients.py")]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr
    result = json.loads(next(line for line in out.stderr.splitlines() if line.startswith("{")))
    assert result["gold"] < 1e-12 and result["distill"] < 1e-12


def test_two_processes_train_the_one_process_model(tmp_path):
    argv = ["train", "ner", "--train", TRAIN, "--dev", DEV, *MODEL, *COMMON, "--epochs", "2"]
    assert main([*argv, "--output", str(tmp_path / "one")]) == 0
    output = torchrun([*argv, "--output", str(tmp_path / "two")])
    assert output.count("best dev F1") == 1  # one copy of every message: rank 0's
    assert_same_run(tmp_path / "one", tmp_path / "two")
    assert not (tmp_path / "two" / "run.lock").exists()


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    folder = tmp_path_factory.mktemp("teacher") / "dep"
    assert main(["train", "dep", "--train", CONLLU, "--dev", CONLLU, *MODEL, *COMMON, "--epochs", "1",
                 "--output", str(folder)]) == 0
    return folder / "best"


def test_two_processes_distill_the_one_process_student(teacher, tmp_path):
    """The teacher's targets are computed in the launch (its shards by the processes), then read by both."""
    argv = ["distill", "dep", "--teacher", str(teacher), "--train", CONLLU, "--dev", CONLLU, *STUDENT, *COMMON,
            "--objective", "structural", "--epochs", "2", "--student-structure", "head-selection"]
    assert main([*argv, "--output", str(tmp_path / "one")]) == 0
    torchrun([*argv, "--output", str(tmp_path / "two")])
    # AdamW divides each gradient by its own scale, so a gradient that is zero up to rounding (a bias the loss
    # hardly depends on) takes a step of the learning rate's size in a direction rounding picks: the weights
    # are not compared here; the gradients are, above, and the losses and dev scores every epoch
    assert_same_run(tmp_path / "one", tmp_path / "two", weight_tolerance=None)


def test_a_run_killed_under_torchrun_resumes_with_another_number_of_processes(tmp_path):
    argv = ["train", "ner", "--train", TRAIN, "--dev", DEV, *MODEL, *COMMON, "--epochs", "4"]
    assert main([*argv, "--output", str(tmp_path / "whole")]) == 0
    killed = tmp_path / "killed"
    process = torchrun([*argv, "--output", str(killed)], wait=False)
    log = killed / "train_log.jsonl"
    deadline = time.time() + 300
    while not (log.exists() and log.read_text().count("\n") >= 1) and time.time() < deadline:
        time.sleep(0.05)  # the first epoch's checkpoint is written; the second epoch starts
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = log.read_text().count("\n")
    assert 1 <= finished < 4, "the run was not killed mid-training"
    torchrun([*argv, "--output", str(killed), "--resume"], processes=3)
    assert_same_run(tmp_path / "whole", killed)


def test_outputs_are_gathered_in_the_order_of_the_sentences(tmp_path):
    script = tmp_path / "gather.py"
    script.write_text(
        "import json, sys\n"
        "from structkd.training.distributed import Distributed\n"
        "d = Distributed.from_environment()\n"
        "items = list(range(11))\n"
        "tags = d.gather_in_order(items, lambda shard: [f'{i}@{d.rank}' for i in shard])\n"
        "trees = d.gather_in_order(items, lambda shard: ([i * 10 for i in shard], [str(i) for i in shard]))\n"
        "sys.stderr.write(json.dumps([d.rank, tags, trees]) + '\\n')\n"
        "d.close()\n")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=3", str(script)]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("[")]
    assert sorted(r[0] for r in results) == [0, 1, 2]
    for _, tags, trees in results:
        assert tags == [f"{i}@{i % 3}" for i in range(11)]
        assert trees == [[i * 10 for i in range(11)], [str(i) for i in range(11)]]


def test_verbs_that_do_not_train_refuse_torchrun(tmp_path):
    output = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "structkd.cli",
         "evaluate", "ner", "--model", str(tmp_path), "--data", DEV], cwd=ROOT, capture_output=True, text=True,
        timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert output.returncode != 0 and "evaluate runs in one process: launch it without torchrun" in output.stderr
