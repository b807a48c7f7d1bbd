"""The divergence objectives (structkd.divergences) as students' training objectives, beside structural KD and
gold only: NER scenario 1a (MiniLM + CRF teacher -> BiLSTM + CRF student, UNER English-EWT) and parsing scenario
1b (MiniLM + matrix-tree CRF teacher -> BiLSTM + head-selection student, UD English-EWT).

Protocol: the labelled-fraction one of the task benchmarks (``--gold-fraction 0.1``): the teachers (the task
benchmarks' ``teacher-crf`` and ``teacher-nonprojective``, trained on all gold) label the training sentences,
the students keep the gold of 10% of them (the same ones in every run) and learn the other 90% from the
teacher alone.  This is where the objectives differ most: on the sentences it was trained on, the teacher's
distribution is nearly its gold, and every objective then trains nearly the same student.  The students
are the benchmarks' (BiLSTM with GloVe 6B 50-d and word dropout, ``harness.STUDENT_INPUTS``) with their
budget (``STUDENT``: at most 10 epochs, AdamW 2e-3 with linear decay, batch 32, early stopping on dev, lam 0.5).
Each objective runs ``--seeds`` seeds; ``kl`` has structural KD's gradient (they differ by the teacher's
entropy, a constant), so it runs one seed, to show that it trains the same student.

Every row is one ``structkd distill`` call into ``--runs/TASK-NAME``: a finished row is skipped, an interrupted one
resumes from its checkpoint; all rows of a task share one teacher-target cache.  A finished row's dev and test
scores are kept in ``benchmarks/results/divergences/`` (in git), so the report never loses a row::

    python benchmarks/divergences.py --task ner            # train what is missing, then the report
    python benchmarks/divergences.py --only 'ner-rkl-*'    # some rows only (glob on the row name)
    python benchmarks/divergences.py --report-only         # the report from the kept results
"""
from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness import ROOT, STUDENT_INPUTS, code_version, machine, prefixed, table  # noqa: E402  (sets sys.path)
from structkd.cli import main as cli  # noqa: E402
from taggers.pipeline import run_once  # noqa: E402

STUDENT = {"epochs": "10", "lr": "2e-3", "lr-schedule": "linear", "batch-size": "32", "patience": "3", "lam": "0.5"}
FRACTION = "0.1"
OBJECTIVES = ("none", "structural", "kl", "rkl", "js", "tvd")
ONE_SEED = ("kl",)  # same gradient as structural KD
NAMES = {"none": "gold only", "structural": "structural KD (cross-entropy)", "kl": "KL (exact)",
         "rkl": "reverse KL (exact)", "js": "JS (exact upper bound)", "tvd": "TV (exact upper bound)"}


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    teacher: str  # run folder under ROOT/runs
    train: str
    dev: str
    test: str
    student: tuple[str, ...]
    metric: str
    label: str


TASKS = {
    "ner": Task("ner", "NER 1a: MiniLM + CRF -> BiLSTM + CRF (UNER English-EWT)", "ner-bench/teacher-crf",
                "UNER_English-EWT/en_ewt-ud-train.prerelease.iob2", "UNER_English-EWT/en_ewt-ud-dev.iob2",
                "UNER_English-EWT/en_ewt-ud-test.iob2", ("--student-head", "crf"), "f1", "F1"),
    "dep": Task("dep", "Parsing 1b: MiniLM + matrix-tree CRF -> BiLSTM + head selection (UD English-EWT)",
                "dep-bench/teacher-nonprojective", "UD_English-EWT/en_ewt-ud-train.conllu",
                "UD_English-EWT/en_ewt-ud-dev.conllu", "UD_English-EWT/en_ewt-ud-test.conllu",
                ("--student-structure", "head-selection"), "las", "LAS"),
}


def rows(task: Task, seeds: int) -> list[tuple[str, str, int]]:
    """``(row name, objective, seed)`` of every row of ``task``, seed by seed (a partial run covers every
    objective first), the one-seed rows last."""
    return ([(f"{task.name}-{objective}-s{seed}", objective, seed) for seed in range(seeds) for objective in OBJECTIVES
             if objective not in ONE_SEED] + [(f"{task.name}-{objective}-s0", objective, 0) for objective in ONE_SEED])


def argv(task: Task, objective: str, seed: int, data: Path, runs: Path, threads: str, extra=()) -> list[str]:
    return ["distill", task.name, *extra, "--teacher", str(ROOT / "runs" / task.teacher / "best"),
            "--student-encoder", "bilstm", *prefixed(STUDENT_INPUTS, "student-"), *task.student,
            "--objective", objective, "--gold-fraction", FRACTION, *prefixed(STUDENT, ""), "--seed", str(seed),
            "--train", str(data / task.train), "--dev", str(data / task.dev),
            "--teacher-cache", str(runs / f"{task.name}-cache"), "--threads", threads, "--quiet"]


def check_teacher(task: Task) -> None:
    """Stop with the command that trains the task benchmark's teacher when its folder is missing."""
    folder = ROOT / "runs" / task.teacher / "best"
    if not (folder / "model.safetensors").exists():
        bench, name = task.teacher.split("/")
        script = "ner.py" if bench.startswith("ner") else "parsing.py"
        raise SystemExit(f"{folder}: the teacher is missing; train it with `python benchmarks/{script} --only {name}`")


def teacher_version(task: Task) -> dict:
    """The teacher that teaches ``task``'s rows now: its run folder (under ``ROOT/runs``) and when its training
    finished (the task benchmark's ``result.json`` there; None without one).  Every record keeps it, so rows taught
    by different versions of a teacher (one trained again on another machine) are never compared."""
    result = ROOT / "runs" / task.teacher / "result.json"
    return {"name": task.teacher, "finished": json.loads(result.read_text())["finished"] if result.exists() else None}


def same_teacher(record: dict, teacher: dict) -> bool:
    """Whether ``record`` was taught by the teacher version ``teacher`` (:func:`teacher_version`)."""
    taught = record.get("teacher", {})
    return (taught.get("name"), taught.get("finished")) == (teacher["name"], teacher["finished"])


def train(task: Task, name: str, objective: str, seed: int, args, extra=()) -> dict:
    """Train (or resume) one row (``extra``: more ``distill`` options), evaluate it on test, and return its kept
    record."""
    folder = args.runs / name
    start = time.time()
    run_once(folder, argv(task, objective, seed, args.data, args.runs, args.threads, extra))
    test = folder / "test.json"
    if not test.exists() and cli(["evaluate", task.name, "--model", str(folder / "best"), "--data",
                                  str(args.data / task.test), "--json", str(test)]) != 0:
        raise SystemExit(f"failed: structkd evaluate {task.name} on {folder}")
    summary = json.loads((folder / "summary.json").read_text())
    return {"name": name, "task": task.name, "objective": objective, "seed": seed, "dev": summary["score"],
            "test": json.loads(test.read_text())[task.metric], "epoch": summary["epoch"],
            "epochs_run": len((folder / "train_log.jsonl").read_text().splitlines()),
            "teacher": teacher_version(task),
            "train_minutes": None if summary.get("train_seconds") is None else summary["train_seconds"] / 60,
            "wall_minutes_this_call": (time.time() - start) / 60,
            "machine": machine(threads=int(args.threads)), "date": datetime.date.today().isoformat(),
            "code": code_version()}


def kept(folder: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def mean_sd(values: list[float]) -> str:
    if not values:
        return "not run"
    if len(values) == 1:
        return f"{values[0]:.2f} (1 seed)"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f} ({len(values)} seeds)"


def mean_minutes(minutes: list[float | None]) -> str:
    """The mean of the known training minutes of a row's runs (None: a run resumed from a checkpoint whose epochs
    did not log their time), with how many are known when some are not."""
    known = [m for m in minutes if m is not None]
    if not known:
        return "n/a" if minutes else ""
    return f"{statistics.mean(known):.0f}" + ("" if len(known) == len(minutes) else f" ({len(known)} of {len(minutes)})")


def report(results: dict[str, dict], seeds: int, command: str) -> list[str]:
    lines = ["# Divergence objectives for structured students (labelled-fraction protocol, 10% gold)", "",
             f"Generated by `{command}` from the kept results in `benchmarks/results/divergences/` "
             f"(one JSON per finished row, with its machine and date; {code_version()}).", "",
             "Every row: the task benchmark's BiLSTM student (GloVe 6B 50-d, word dropout 0.1), at most 10 epochs, "
             "AdamW 2e-3 with linear decay, batch 32, early stopping on dev (patience 3), lam 0.5; gold on the same "
             "10% of the training sentences in every run, the other 90% labelled by the teacher (trained on all "
             "gold); no other transfer text.  Mean ± sample standard deviation over seeds; the dev score picks the "
             "epoch, test is read once after training.", ""]
    for task in TASKS.values():
        body, by_objective = [], {}
        for objective in OBJECTIVES:
            done = [results[n] for n, o, _ in rows(task, seeds) if o == objective and n in results]
            by_objective[objective] = done
            planned = 1 if objective in ONE_SEED else seeds
            body.append([NAMES[objective], mean_sd([r["dev"] for r in done]), mean_sd([r["test"] for r in done]),
                         f"{len(done)} of {planned}",
                         mean_minutes([r["train_minutes"] for r in done])])
        versions = sorted({r["teacher"]["finished"] for done in by_objective.values() for r in done
                           if r["objective"] != "none"})
        lines += [f"## {task.title}", "", f"Teacher: `{task.teacher}`, the version trained "
                  f"{' and '.join(versions) if versions else '(no KD row yet)'}.", "",
                  *table(["objective", f"dev {task.label}", f"test {task.label}", "seeds run", "train min / run"],
                         body), "", *verdict(task, by_objective, seeds), ""]
    machines = sorted({r["machine"] for r in results.values()})
    lines += ["Runs trained on: " + ("; ".join(machines) if machines else "nothing yet") + "."]
    return lines


def verdict(task: Task, by_objective: dict[str, list[dict]], seeds: int) -> list[str]:
    """Target: the best divergence beats structural KD by more than the seed deviation (on test, mean of 3)."""
    structural = [r["test"] for r in by_objective["structural"]]
    divergences = {o: [r["test"] for r in by_objective[o]] for o in ("rkl", "js", "tvd") if len(by_objective[o]) >= 2}
    if len(structural) < 2 or not divergences:
        return ["Target (best divergence beats structural KD by more than the seed deviation): not measured yet "
                "(needs 2+ seeds of structural KD and of a divergence)."]
    best = max(divergences, key=lambda o: statistics.mean(divergences[o]))
    gain = statistics.mean(divergences[best]) - statistics.mean(structural)
    deviation = max(statistics.stdev(structural), statistics.stdev(divergences[best]))
    met = gain > deviation
    counts = [len(structural)] + [len(v) for v in divergences.values()]
    complete = len(divergences) == 3 and min(counts) >= seeds
    status = ("met" if met else "**missed**") + ("" if complete else " so far (provisional: not every row has all "
                                                                      f"{seeds} seeds)")
    return [f"Target (best divergence beats structural KD by more than the seed deviation): {status}: the best "
            f"divergence with 2+ seeds by test mean, {NAMES[best]}, {gain:+.2f} {task.label} against structural KD "
            f"(seed deviation {deviation:.2f})."]


def protocol_parser(doc: str, name: str) -> argparse.ArgumentParser:
    """The options of a benchmark of this protocol called ``name`` (its kept results, report and discussion are
    named after it; its rows run in this benchmark's runs folder, sharing its teacher-target caches)."""
    results = ROOT / "benchmarks" / "results"
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", action="append", choices=sorted(TASKS), help="ner, dep (repeatable; default both)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the data folder")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "divergences", help="one folder per row")
    parser.add_argument("--kept", type=Path, default=results / name,
                        help="where finished rows' results are kept (in git)")
    parser.add_argument("--results", type=Path, default=results / f"{name}.md")
    parser.add_argument("--discussion", type=Path, default=results / f"{name}-discussion.md",
                        help="a markdown file appended to the report, when it exists")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", default="1", help="torch threads")
    parser.add_argument("--only", action="append", metavar="GLOB", help="rows whose name matches (repeatable)")
    parser.add_argument("--report-only", action="store_true")
    return parser


def main(argv_: list[str] | None = None) -> None:
    args = protocol_parser(__doc__, "divergences").parse_args(argv_)
    args.kept.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        for task in (TASKS[t] for t in (args.task or TASKS)):
            check_teacher(task)
            train_rows(rows(task, args.seeds), args, lambda name, objective, seed, task=task:
                       train(task, name, objective, seed, args))
    publish(report(kept(args.kept), args.seeds, command_line("divergences.py", argv_)), args)


def train_rows(task_rows: list[tuple[str, str, int]], args, make_record) -> None:
    """Train every row ``(name, key, seed)`` that is not kept yet and that ``--only`` selects, and keep the record
    ``make_record(name, key, seed)`` returns."""
    for name, key, seed in task_rows:
        if (args.kept / f"{name}.json").exists() or (
                args.only and not any(fnmatch.fnmatch(name, g) for g in args.only)):
            continue
        print(f"=== {name}", flush=True)
        (args.kept / f"{name}.json").write_text(json.dumps(make_record(name, key, seed), indent=1) + "\n")


def command_line(script: str, argv: list[str] | None) -> str:
    return f"python benchmarks/{script} " + " ".join(sys.argv[1:] if argv is None else argv).strip()


def publish(lines: list[str], args) -> None:
    """Write the report (with ``--discussion`` appended when it exists) to ``--results`` and print it."""
    if args.discussion.exists():
        lines.append(args.discussion.read_text())
    args.results.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
