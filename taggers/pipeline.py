"""The main job on a small sample: train a MiniLM+CRF teacher, distill a BiLSTM student, compare them.

    python3 -m taggers.pipeline [--data DIR] [--output DIR]

reads the UNER English-EWT sample bundled in ``tests/data/main-job`` (or any folder with the same file names:
``train.iob2``, ``dev.iob2``, ``test.iob2``, ``transfer.txt``), trains the teacher, distills the student with
structural KD (plus the teacher-labelled transfer text), evaluates both on the test file and prints entity F1,
parameters, CPU sentences per second at batch 32 and batch 1, and the minutes each step took.  Finished steps
are kept in ``--output`` and skipped when it is run again (their time is the one recorded when they ran).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Sequence

import torch

from structkd.cli import main as cli
from structkd.data import Sentence, read_uner
from structkd.metrics import entity_scores
from structkd.persistence import load
from structkd.throughput import size_and_speed

from .task import TaggingTask

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "main-job"
FILES = {"train": "train.iob2", "dev": "dev.iob2", "test": "test.iob2", "transfer": "transfer.txt"}
TIMES = "seconds.json"  #: in the run folder: the seconds each finished step took


def measure(folder: Path, test: Sequence[Sentence]) -> dict:
    """Test F1, parameters and sentences per second (batch 32 and 1) of the model in ``folder``."""
    task = TaggingTask(load(folder))
    return {"f1": entity_scores([s.tags for s in test], task.predict(test))["f1"], **size_and_speed(task, test)}


def run_once(folder: Path, argv: list[str]) -> bool:
    """Run a CLI training command unless ``folder`` already holds its finished result (resuming a killed run);
    whether it ran."""
    if (folder / "summary.json").exists():
        print(f"{folder}: done, skipped")
        return False
    resume = ["--resume"] if (folder / "checkpoint").exists() else []
    if cli(argv + ["--output", str(folder)] + resume) != 0:
        raise SystemExit(f"failed: structkd {' '.join(argv)}")
    return True


def timed_run(folder: Path, argv: list[str]) -> float:
    """:func:`run_once`, and the seconds the step took when it ran, kept in the folder (a resumed run counts its
    last part only; NaN for a step killed between its summary and this record)."""
    record, start = folder / TIMES, time.perf_counter()
    if run_once(folder, argv):
        record.write_text(json.dumps({"seconds": time.perf_counter() - start}))
    return json.loads(record.read_text())["seconds"] if record.exists() else math.nan


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SAMPLE, help="folder with the sample files")
    parser.add_argument("--output", type=Path, default=Path("runs/ner-demo"), help="run folder")
    parser.add_argument("--teacher-epochs", type=int, default=2, help="MiniLM + CRF epochs (default: 2)")
    parser.add_argument("--student-epochs", type=int, default=6, help="BiLSTM + CRF epochs (default: 6)")
    parser.add_argument("--seed", type=int, default=0, help="seed of both runs (default: 0)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(2)
    data = {k: str(args.data / v) for k, v in FILES.items()}
    common = ["--train", data["train"], "--dev", data["dev"], "--seed", str(args.seed)]
    teacher, student = args.output / "teacher", args.output / "student"
    seconds = {
        "teacher": timed_run(teacher, ["train", "ner", *common, "--encoder", "transformer", "--head", "crf",
                                       "--epochs", str(args.teacher_epochs), "--lr", "1e-4", "--batch-size", "16"]),
        "student": timed_run(student, ["distill", "ner", *common, "--teacher", str(teacher / "best"),
                                       "--student-encoder", "bilstm", "--student-head", "crf",
                                       "--objective", "structural", "--lam", "0.5", "--transfer", data["transfer"],
                                       "--epochs", str(args.student_epochs), "--lr", "5e-3"]),
    }
    test = read_uner(data["test"])
    start = time.perf_counter()
    rows = {name: measure(folder / "best", test) for name, folder in (("teacher", teacher), ("student", student))}
    seconds["evaluation"] = time.perf_counter() - start
    (args.output / "results.json").write_text(json.dumps({**rows, "seconds": seconds}, indent=2))
    print(f"\n{'model':<28}{'test F1':>8}{'parameters':>13}{'sent/s b32':>12}{'sent/s b1':>11}")
    names = {"teacher": "teacher MiniLM + CRF", "student": "student BiLSTM + CRF (KD)"}
    for name, r in rows.items():
        print(f"{names[name]:<28}{r['f1']:>8.2f}{r['parameters']:>13,}{r['speed_32']:>12.1f}{r['speed_1']:>11.1f}")
    t, s = rows["teacher"], rows["student"]
    print(f"student / teacher: {100 * s['f1'] / max(t['f1'], 1e-9):.0f}% of the F1, "
          f"{t['parameters'] / s['parameters']:.1f}x fewer parameters, {s['speed_32'] / t['speed_32']:.1f}x the "
          f"speed at batch 32, {s['speed_1'] / t['speed_1']:.1f}x at batch 1 "
          f"(UNER English-EWT sample: {len(test)} test sentences; train is the pre-release split, OTH and B-O "
          "mapped to O)")
    print("minutes: " + ", ".join(f"{name} {value / 60:.1f}" for name, value in seconds.items())
          + f", in all {sum(seconds.values()) / 60:.1f}")


if __name__ == "__main__":
    main()
