"""Smaller NER students: what the BiLSTM's size costs in F1 and buys in speed (scenario 1a, structural KD).

Beside the NER benchmark (``ner.py``), in its runs folder: BiLSTM + CRF students smaller than the benchmark's
default one (2 x 200 per direction, character CNN) are distilled with structural KD from the benchmark's
MiniLM + CRF teacher (the current version of ``teacher-crf``), with the benchmark's student recipe, transfer
text and seeds, and evaluated like the benchmark's runs; a copy of each finished run's result is kept in
``--kept`` (in git), so that later sessions skip the run.  Then the teacher, a default-size student of the
benchmark and the seed-0 student of each size are timed in one process as ``latency.py`` times them (CPU
sentences per second at batch 32 and 1, ``--rounds`` rounds over all the models, each ratio to the teacher
the median of the rounds'), once per set of models (``size-speed.json`` in ``--runs`` and ``--kept``; again with
``--remeasure``).  Target (issue 15): a student at >= 10x the teacher's speed at batch 1 and at batch 32 whose
test F1 is within 1 of the 1 x 128 student's.  The report goes to ``benchmarks/results/ner-student-size.md``::

    python benchmarks/ner_student_size.py --runs runs/ner-bench --threads 1 --no-speed   # train what is missing
    python benchmarks/ner_student_size.py --runs runs/ner-bench --threads 2              # then time and report
    python benchmarks/ner_student_size.py --runs runs/ner-bench --report-only
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from pathlib import Path
from typing import Sequence

import harness
import latency
import ner
import torch
from harness import Run, Scores, Setup, finished, student_run, table
from objective_speed import code_version
from structkd.persistence import load

#: student sizes beside the default one: name -> (label, the distill options that make it)
SIZES = {
    "1x128": ("BiLSTM 1 x 128, character CNN", ["--student-hidden", "128", "--student-layers", "1"]),
    "1x128-nochar": ("BiLSTM 1 x 128, no character CNN",
                     ["--student-hidden", "128", "--student-layers", "1", "--student-char", "none"]),
}
DEFAULT = "BiLSTM 2 x 200, character CNN (the benchmark's)"
#: the stored speed measurement, in ``--runs`` (the NER benchmark's, whose own is ``speed.json``) and ``--kept``
SPEED = "size-speed.json"
#: how far under the 1 x 128 student's test F1 a fast student may be (issue 15's target)
F1_WITHIN = 1.0


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


def speed_folders(setup: Setup) -> dict[str, Path]:
    """label -> model folder of the models timed: the teacher first, a default-size student, each size's seed 0."""
    return {"MiniLM + CRF teacher": setup.runs / "teacher-crf" / "best",
            DEFAULT: setup.runs / default_student(setup) / "best",
            **{label: setup.runs / size_runs(setup, size)[0].name / "best" for size, (label, _) in SIZES.items()}}


def stored_speed(setup: Setup) -> dict | None:
    """The stored speed measurement (:data:`SPEED` under ``--runs``, else under ``--kept``), or None."""
    for folder in (setup.runs, setup.kept):
        if folder and (folder / SPEED).exists():
            return json.loads((folder / SPEED).read_text())
    return None


def models_version(setup: Setup, results: dict) -> dict[str, str]:
    """The runs a speed measurement times, with the date each finished (a retrained model is timed again)."""
    names = ["teacher-crf", default_student(setup), *(size_runs(setup, size)[0].name for size in SIZES)]
    return {name: results[name]["finished"] for name in names if name in results}


def all_results(setup: Setup, benchmark_kept: Path) -> dict[str, dict]:
    """The finished runs (here and in ``--kept``) over the NER benchmark's kept results, which hold its
    default-size students and its teacher."""
    return {**finished(dataclasses.replace(setup, kept=benchmark_kept), runs=False), **finished(setup)}


def measure_speed(setup: Setup, results: dict, sentences: int, rounds: int, threads: int) -> dict:
    """Time :func:`speed_folders` (``latency.time_rounds``) and store the measurement."""
    test = ner.SPEC.read_test(setup.file(ner.SPLITS["test"]))[:sentences]
    folders = speed_folders(setup)
    measured = latency.time_rounds(ner.SPEC, {label: load(folder) for label, folder in folders.items()}, test,
                                   rounds, threads)
    measured |= {"folders": {label: str(folder) for label, folder in folders.items()},
                 "models_finished": models_version(setup, results)}
    text = json.dumps(measured, indent=2)
    (setup.runs / SPEED).write_text(text)
    harness.keep(setup, SPEED, text)
    return measured


def f1_rows(setup: Setup, results: dict) -> tuple[list[list[str]], dict[str, Scores]]:
    """The F1 table's rows, and the scores of each size's runs by its label (for the target)."""
    teacher = results["teacher-crf"]
    default = Scores.of(harness.row_runs(setup, ner.SPEC, "1a", "structural"), results, "f1")
    rows = [["MiniLM + CRF teacher", "teacher-crf", "", f"{teacher['dev']['f1']:.2f}", f"{teacher['test']['f1']:.2f}",
             "1"],
            [DEFAULT, harness.kd_name(setup, "1a", "structural", "*"), "", default.cell("dev"), default.cell("test"),
             default.seeds()]]
    scores = {DEFAULT: default}
    for size, (label, options) in SIZES.items():
        scores[label] = Scores.of(size_runs(setup, size), results, "f1")
        rows.append([label, f"size-{size}-s*", " ".join(options), scores[label].cell("dev"),
                     scores[label].cell("test"), scores[label].seeds()])
    return rows, scores


def target_lines(scores: dict[str, Scores], speed: dict | None) -> list[str]:
    """Whether some student is >= the latency targets' x the teacher at batch 1 and 32 with test F1 within
    :data:`F1_WITHIN` of the 1 x 128 student's."""
    need_32, need_1 = latency.TARGETS["ner"]
    reference = scores[SIZES["1x128"][0]]
    head = (f"Target: a student at >= {need_1:g}x the teacher's speed at batch 1 and >= {need_32:g}x at batch 32 "
            f"whose test F1 is within {F1_WITHIN:g} of the 1 x 128 student's")
    if speed is None or not reference.test:
        return [f"{head}: not measured yet (needs the 1 x 128 student's F1 and the speed)."]
    ratios = latency.speed_ratios(speed)
    lines = [f"{head} ({reference.mean():.2f}; {len(reference.test)} of {reference.planned} seeds):", ""]
    for label, student in scores.items():
        if label not in ratios or not student.test:
            continue
        fast = ratios[label]["1"][0] >= need_1 and ratios[label]["32"][0] >= need_32
        close = student.mean() >= reference.mean() - F1_WITHIN
        verdict = "**met**" if fast and close else "missed"
        lines.append(f"- {label}: {ratios[label]['1'][1]} at batch 1, {ratios[label]['32'][1]} at batch 32, test F1 "
                     f"{student.mean():.2f}: {verdict}")
    return lines


def report(setup: Setup, results: dict, speed: dict | None, command: str) -> list[str]:
    rows, scores = f1_rows(setup, results)
    done = [run for size in SIZES for run in size_runs(setup, size) if run.name in results]
    taught = {results[run.name]["teacher"]["finished"] for run in done}
    if speed is None:
        timing = ["Not measured yet (it needs the seed-0 model of every size here; run without --no-speed)."]
    else:
        timing = [latency.conditions(speed), "", *latency.speed_table(speed, *latency.TARGETS["ner"]), "",
                  "Folders (decoding time depends on the architecture alone, so any finished student of the default "
                  "size stands for it): " + "; ".join(f"{label}: `{folder}`" for label, folder in speed["folders"].items())
                  + "."]
    return [
        "# structkd: smaller NER students (scenario 1a, structural KD)", "",
        f"- report written {datetime.datetime.now().isoformat(timespec='seconds')} by `{command}` "
        f"({code_version()}); every figure below was measured by that script",
        f"- students: the NER benchmark's 1a structural-KD runs with its transfer text (lam {ner.SPEC.lam}, "
        f"{harness.hyper_text(ner.STUDENT, setup.student_epochs, 'F1')}, seeds 0-{setup.seeds - 1}) with smaller "
        f"BiLSTMs, distilled from the `teacher-crf` version(s) finished {', '.join(sorted(taught)) or 'n/a'}; the "
        "default-size row is the benchmark's own (see ner.md for the teacher version that taught it)",
        f"- trained on: {'; '.join(sorted({results[r.name]['machine'] for r in done})) or 'n/a'}",
        "", "## F1 (UNER English-EWT dev and test)", "",
        *table(["student", "runs", "options", "dev F1", "test F1", "seeds"], rows),
        "## Size and speed", "", *timing, "", *target_lines(scores, speed), "",
    ]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    results = harness.ROOT / "benchmarks" / "results"
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=harness.ROOT.parent / "shared" / "data")
    parser.add_argument("--runs", type=Path, default=harness.ROOT / "runs" / "ner-bench",
                        help="the NER benchmark's runs folder (its teacher-crf must be finished, with its model)")
    parser.add_argument("--results", type=Path, default=results / "ner-student-size.md")
    parser.add_argument("--discussion", type=Path, default=results / "ner-student-size-discussion.md",
                        help="a markdown file appended to the report (what the rows show), when it exists")
    parser.add_argument("--kept", type=Path, default=results / "ner-student-size-runs",
                        help="where a copy of every finished run's result and of the speed record is kept (in git)")
    parser.add_argument("--benchmark-kept", type=Path, default=results / "ner-runs",
                        help="the NER benchmark's kept results (its teacher and default-size students)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--student-epochs", type=int, default=ner.STUDENT["epochs"])
    parser.add_argument("--max-train", type=int, default=None, help="the first N training sentences (smoke runs)")
    parser.add_argument("--no-speed", action="store_true", help="train only; do not measure the speed")
    parser.add_argument("--report-only", action="store_true",
                        help="no training and no timing: the report from the finished runs and the stored speed")
    parser.add_argument("--remeasure", action="store_true", help="time the models again even if they were timed")
    parser.add_argument("--speed-sentences", type=int, default=400, help="time the first N test sentences")
    parser.add_argument("--rounds", type=int, default=9, help="timing rounds over all the models")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads, for training and timing")
    parser.add_argument("--device", default="cpu", help="torch device for training (speed: CPU)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    setup = Setup(args.data.resolve(), args.runs.resolve(), args.seeds, harness.TRANSFER, ner.TEACHER["epochs"],
                  args.student_epochs, args.max_train, args.device, kept=args.kept.resolve())
    if problem := harness.teacher_problem(setup, Run("size", (), "teacher-crf"), finished(setup)):
        raise SystemExit(f"the students need the benchmark's teacher: {problem}")
    if not args.report_only:
        for run in [runs[seed] for seed in range(setup.seeds) for runs in (size_runs(setup, s) for s in SIZES)]:
            if run.name not in finished(setup):  # seed by seed: the seed-0 models, timed below, come first
                harness.execute(setup, ner.SPEC, run, quiet=True)
    speed, results = stored_speed(setup), all_results(setup, args.benchmark_kept.resolve())
    timeable = all((folder / "config.json").exists() for folder in speed_folders(setup).values())
    stale = speed is None or speed.get("models_finished") != models_version(setup, results)
    if not (args.report_only or args.no_speed) and timeable and (stale or args.remeasure):
        speed = measure_speed(setup, results, args.speed_sentences, args.rounds, args.threads)
    command = "python benchmarks/ner_student_size.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = report(setup, results, speed, command.strip())
    if args.discussion.exists():
        lines.append(args.discussion.read_text())
    harness.publish("\n".join(lines) + "\n", args.results)


if __name__ == "__main__":
    main()
