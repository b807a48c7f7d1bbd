"""Smaller NER students: what the BiLSTM's size costs in F1 and buys in speed (scenario 1a, structural KD).

Beside the NER benchmark (``ner.py``), in its runs folder: BiLSTM + CRF students smaller than the benchmark's
default one (2 x 200 per direction, character CNN) are distilled with structural KD from the benchmark's
MiniLM + CRF teacher (the current version of ``teacher-crf``), with the benchmark's student settings and
seeds, and evaluated like the benchmark's runs. Then the teacher, a default-size BiLSTM + CRF student of the
benchmark and the seed-0 student of each size are timed in one process (``model_speed.py``: CPU sentences per
second at batch 32 and 1). The report goes to ``benchmarks/results/ner-student-size.md``. Finished runs are
kept and skipped, as in the benchmark::

    python benchmarks/ner_student_size.py --data ../shared/data --runs runs/ner-bench --threads 2
"""
from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import Sequence

import harness
import torch
import model_speed
import ner
from harness import Run, Scores, Setup, finished, student_run, table
from objective_speed import code_version

#: student sizes beside the default one: name -> (label, the distill options that make it)
SIZES = {
    "1x128": ("BiLSTM 1 x 128, character CNN", ["--student-hidden", "128", "--student-layers", "1"]),
    "1x128-nochar": ("BiLSTM 1 x 128, no character CNN",
                     ["--student-hidden", "128", "--student-layers", "1", "--student-char", "none"]),
}
DEFAULT = "BiLSTM 2 x 200, character CNN (the benchmark's)"


def size_runs(setup: Setup, size: str) -> list[Run]:
    """The seeds of one student size: the benchmark's 1a structural-KD runs (with the transfer text) with the
    size's options; they read the teacher's targets from the benchmark's cache of that row (same teacher, CRF
    student, sentences and objective: the encoder is no part of the targets)."""
    runs = [student_run(setup, ner.SPEC, "1a", "structural", seed) for seed in range(setup.seeds)]
    return [Run(f"size-{size}-s{seed}", run.argv + tuple(SIZES[size][1]), run.teacher) for seed, run in enumerate(runs)]


def default_student(setup: Setup) -> str:
    """A finished default-size BiLSTM + CRF student of the benchmark whose model is here (for its speed, which
    depends on its architecture alone: a structural-KD one where there is one, else a token-level one)."""
    names = [run.name for method in ("structural", "token") for scenario in ("1a", "3")
             for run in harness.row_runs(setup, ner.SPEC, scenario, method)]
    found = [name for name in names if (setup.runs / name / "best").is_dir()]
    if not found:
        raise SystemExit(f"no default-size BiLSTM + CRF student with a model under {setup.runs} ({', '.join(names)})")
    return found[0]


def report(setup: Setup, results: dict, speed: dict, command: str) -> list[str]:
    teacher = results["teacher-crf"]
    default = Scores.of(harness.row_runs(setup, ner.SPEC, "1a", "structural"), results, "f1")
    rows = [["MiniLM + CRF teacher", "teacher-crf", "", f"{teacher['dev']['f1']:.2f}", f"{teacher['test']['f1']:.2f}",
             "1"],
            [DEFAULT, harness.kd_name(setup, "1a", "structural", "*"), "", default.cell("dev"), default.cell("test"), default.seeds()]]
    for size, (label, _) in SIZES.items():
        scores = Scores.of(size_runs(setup, size), results, "f1")
        rows.append([label, f"size-{size}-s*", " ".join(SIZES[size][1]), scores.cell("dev"), scores.cell("test"),
                     scores.seeds()])
    done = [run for size in SIZES for run in size_runs(setup, size) if run.name in results]
    taught = {results[run.name]["teacher"]["finished"] for run in done}
    return [
        "# structkd: smaller NER students (scenario 1a, structural KD)", "",
        f"- report written {datetime.datetime.now().isoformat(timespec='seconds')} by `{command}` "
        f"({code_version()}); every figure below was measured by that script",
        f"- students: the NER benchmark's 1a structural-KD runs with its transfer text (lam {ner.SPEC.lam}, "
        f"{harness.hyper_text(ner.STUDENT, setup.student_epochs, 'F1')}, seeds 0-{setup.seeds - 1}) with smaller "
        f"BiLSTMs, distilled from the `teacher-crf` version(s) finished {', '.join(sorted(taught)) or 'n/a'}; the "
        "default-size row is the benchmark's own (see ner.md for the teacher version that taught it)",
        f"- trained on: {'; '.join(sorted({results[r.name]['machine'] for r in done}))}",
        "", "## F1 (UNER English-EWT dev and test)", "",
        *table(["student", "runs", "options", "dev F1", "test F1", "seeds"], rows),
        "## Size and speed", "", *model_speed.report(speed), "",
    ]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=harness.ROOT.parent / "shared" / "data")
    parser.add_argument("--runs", type=Path, default=harness.ROOT / "runs" / "ner-bench",
                        help="the NER benchmark's runs folder (its teacher-crf must be finished, with its model)")
    parser.add_argument("--results", type=Path, default=harness.ROOT / "benchmarks" / "results" / "ner-student-size.md")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--student-epochs", type=int, default=ner.STUDENT["epochs"])
    parser.add_argument("--max-train", type=int, default=None, help="the first N training sentences (smoke runs)")
    parser.add_argument("--speed-sentences", type=int, default=400, help="time the first N test sentences")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default="cpu", help="torch device for training (speed: CPU)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    setup = Setup(args.data.resolve(), args.runs.resolve(), args.seeds, harness.TRANSFER, ner.TEACHER["epochs"],
                  args.student_epochs, args.max_train, args.device)
    if problem := harness.teacher_problem(setup, Run("size", (), "teacher-crf"), finished(setup)):
        raise SystemExit(f"the students need the benchmark's teacher: {problem}")
    for run in [runs[seed] for seed in range(setup.seeds) for runs in (size_runs(setup, s) for s in SIZES)]:
        if run.name not in finished(setup):  # seed by seed: the seed-0 models, timed below, come first
            harness.execute(setup, ner.SPEC, run, quiet=True)
    models = [("MiniLM + CRF teacher", setup.runs / "teacher-crf" / "best"),
              (DEFAULT, setup.runs / default_student(setup) / "best"),
              *((label, setup.runs / size_runs(setup, size)[0].name / "best") for size, (label, _) in SIZES.items())]
    speed = model_speed.measure("ner", models, setup.file(ner.SPLITS["test"]), args.speed_sentences)
    command = "python benchmarks/ner_student_size.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = report(setup, finished(setup), speed, command.strip())
    args.results.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
