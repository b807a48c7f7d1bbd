"""NER benchmark on UNER English-EWT: MiniLM teachers, BiLSTM students per Structural-KD scenario, CPU speed.

Every run is one ``structkd train ner`` or ``structkd distill ner`` call (in-process, through
``structkd.cli.main``) into its own folder under ``--runs``, followed by ``structkd evaluate ner`` on the
released dev and test files; the run's ``result.json`` (dev and test entity F1, per type) marks it finished.
A finished run is skipped when the benchmark is started again, an interrupted one is resumed from its
checkpoint, so the plan can be completed over several sessions.  The plan (students for every seed
``s = 0 .. --seeds - 1``; see ``--list``)::

    teacher-crf, teacher-maxent, teacher-span       MiniLM + CRF / MaxEnt / span teachers (seed 0)
    gold-crf-s{s}, gold-maxent-s{s}                 BiLSTM students on gold only (shared by the scenarios)
    1a-token-s{s}, 1a-posterior-s{s}, 1a-topk-s{s}, 1a-structural-s{s},
    1a-structural+transfer-s{s}                                                             CRF -> CRF
    2a-token-s{s}, 2a-structural-s{s}, 2a-structural+transfer-s{s}                         CRF -> MaxEnt
    3-token-s{s}, 3-structural-s{s}                                                          MaxEnt -> CRF
    4-token-s{s}, 4-structural-s{s}                                                          span -> MaxEnt

Top-K KD (scenario 1a) distills the teacher's ``TOPK`` = 5 best label sequences.
Transfer text: the CC BY-SA files of ``unlabeled-en`` (Atis, ESLSpok, CTeTex, Pronouns), labelled by the
teacher only; ``--transfer-nc`` adds the non-commercial ones (research runs only; runs named ``+transfer-nc``).

Once the teachers and the seed-0 structural students are finished, one process measures parameters and
CPU sentences per second (batch 32 and batch 1, the released test file) of the three teachers and one
student per student head, so that their ratios are comparable; the numbers are kept in ``speed.json``
under ``--runs``.  The report (``--results``, a markdown file) and its plot (the same name, ``.png``) are
rewritten after every finished run.

Usage::

    python benchmarks/ner.py                       # the full benchmark (resumable; see --help for the options)
    python benchmarks/ner.py --list                # the plan and what is done
    python benchmarks/ner.py --only 'teacher-*'    # some runs only (glob, or a substring of the run name)
    python benchmarks/ner.py --report-only         # rebuild the report from the finished runs
    python benchmarks/ner.py --max-train 200 --teacher-epochs 1 --student-epochs 1 --seeds 2 \\
        --runs /tmp/ner-smoke --results /tmp/ner-smoke.md    # smoke run
"""
from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from objective_speed import code_version, cpu_seconds, other_load  # noqa: E402  (sibling benchmark)
from structkd.cli import main as cli  # noqa: E402
from structkd.data import read_text, read_uner  # noqa: E402
from taggers.pipeline import measure, run_once  # noqa: E402

# ----------------------------------------------------------------------------- settings
#: MiniLM teachers: AdamW at 5e-5 (the usual fine-tuning rate of a pretrained transformer, and the CLI's
#: default), 16 sentences a batch, at most 3 epochs (``--teacher-epochs``), early stopping on dev F1.
TEACHER = {"lr": 5e-5, "batch_size": 16, "epochs": 3, "patience": 3}
#: BiLSTM students (the CLI's default encoder: 2 layers of 200 per direction, 100-d words, character CNN):
#: AdamW at 2e-3, batch 32, at most 10 epochs (``--student-epochs``), stop after 3 epochs without dev gain.
STUDENT = {"lr": 2e-3, "batch_size": 32, "epochs": 10, "patience": 3}
#: KD weight: lam * L_KD + (1 - lam) * L_gold on training sentences, L_KD alone on transfer text; T = 1.
LAM = 0.5
#: K of Top-K KD: the teacher's K best outputs, weighted by their renormalised probabilities.
TOPK = 5

TRAIN = "UNER_English-EWT/en_ewt-ud-train.prerelease.iob2"
SPLITS = {"dev": "UNER_English-EWT/en_ewt-ud-dev.iob2", "test": "UNER_English-EWT/en_ewt-ud-test.iob2"}
CC_TRANSFER = ("Atis", "ESLSpok", "CTeTex", "Pronouns")  # CC BY-SA 4.0
NC_TRANSFER = ("LinES", "ParTUT", "GENTLE")  # CC BY-NC-SA 4.0: research runs only

TEACHERS = {"crf": "MiniLM + CRF", "maxent": "MiniLM + MaxEnt", "span": "MiniLM + span"}
STUDENTS = {"crf": "BiLSTM + CRF", "maxent": "BiLSTM + MaxEnt"}
#: scenario -> (teacher head, student head, methods in table order)
SCENARIOS = {
    "1a": ("crf", "crf", ("gold", "token", "posterior", "topk", "structural", "transfer")),
    "2a": ("crf", "maxent", ("gold", "token", "structural", "transfer")),
    "3": ("maxent", "crf", ("gold", "token", "structural")),
    "4": ("span", "maxent", ("gold", "token", "structural")),
}
METHODS = {"gold": "gold only", "token": "token-level KD", "posterior": "posterior KD", "topk": f"Top-{TOPK} KD",
           "structural": "structural KD", "transfer": "structural KD + transfer text"}
#: the student of each head whose speed is measured (seed 0; speed depends on the architecture only)
SPEED_STUDENT = {"crf": ("1a", "structural"), "maxent": ("2a", "structural")}

F1_KEPT, SPEEDUP, GOLD_MARGIN = 0.97, 10.0, 1.0  # the targets
TARGETS = (f"keeps >= {F1_KEPT:.0%} of the teacher's F1 at >= {SPEEDUP:g}x its speed",
           f"beats gold only by >= {GOLD_MARGIN:g} F1", "beats token-level KD by more than the seed deviation")
RESULT, SPEED = "result.json", "speed.json"
DODGE = 1.03  # plot: horizontal spread (factor per row) of the student rows drawn at one architecture's speed


@dataclass(frozen=True)
class Setup:
    """Where the data and runs are, and the sizes of this benchmark."""

    data: Path
    runs: Path
    seeds: int
    transfer: tuple[str, ...]
    teacher_epochs: int
    student_epochs: int
    max_train: int | None

    def file(self, relative: str) -> str:
        return str(self.data / relative)

    def transfer_files(self) -> list[str]:
        return [self.file(f"unlabeled-en/{stem}.txt") for stem in self.transfer]

    @property
    def transfer_tag(self) -> str:
        """``transfer`` for the CC BY-SA files alone, ``transfer-nc`` when non-commercial files are added."""
        return "transfer-nc" if set(self.transfer) & set(NC_TRANSFER) else "transfer"


@dataclass(frozen=True)
class Run:
    """One CLI training call: its run name, its arguments (without ``--output``) and the teacher it needs."""

    name: str
    argv: tuple[str, ...]
    teacher: str | None = None


# ----------------------------------------------------------------------------- the plan
def _training_argv(setup: Setup, hyper: dict, epochs: int, seed: int) -> list[str]:
    """Data and optimisation options shared by every training call."""
    limit = ["--max-sentences", str(setup.max_train)] if setup.max_train else []
    return ["--train", setup.file(TRAIN), "--dev", setup.file(SPLITS["dev"]), *limit, "--epochs", str(epochs),
            "--lr", str(hyper["lr"]), "--batch-size", str(hyper["batch_size"]), "--patience",
            str(hyper["patience"]), "--seed", str(seed)]


def teacher_run(setup: Setup, head: str) -> Run:
    """The MiniLM teacher with ``head`` (seed 0)."""
    return Run(f"teacher-{head}", ("train", "ner", "--encoder", "transformer", "--head", head,
                                   *_training_argv(setup, TEACHER, setup.teacher_epochs, 0)))


def student_run(setup: Setup, scenario: str, method: str, seed: int) -> Run:
    """The BiLSTM student of ``scenario`` trained with ``method``."""
    teacher_head, head, _ = SCENARIOS[scenario]
    training = _training_argv(setup, STUDENT, setup.student_epochs, seed)
    if method == "gold":
        return Run(f"gold-{head}-s{seed}", ("train", "ner", "--encoder", "bilstm", "--head", head, *training))
    teacher = teacher_run(setup, teacher_head).name
    objective, name, extra = method, f"{scenario}-{method}-s{seed}", []
    if method == "topk":
        extra = ["--topk", str(TOPK)]
    if method == "transfer":
        objective, name = "structural", f"{scenario}-structural+{setup.transfer_tag}-s{seed}"
        extra = ["--transfer", *setup.transfer_files()]
    return Run(name, ("distill", "ner", "--teacher", str(setup.runs / teacher / "best"), "--student-encoder",
                      "bilstm", "--student-head", head, "--objective", objective, "--lam", str(LAM), *extra,
                      *training), teacher)


def row_runs(setup: Setup, scenario: str, method: str) -> list[Run]:
    """The runs (one per seed) behind one row of the student table."""
    return [student_run(setup, scenario, method, seed) for seed in range(setup.seeds)]


def plan(setup: Setup) -> list[Run]:
    """Every run, teachers first, then the students seed by seed (a gold-only run shared by two scenarios
    appears once)."""
    runs = {run.name: run for run in (teacher_run(setup, head) for head in TEACHERS)}
    for seed in range(setup.seeds):
        for scenario, (_, _, methods) in SCENARIOS.items():
            for method in methods:
                run = student_run(setup, scenario, method, seed)
                runs.setdefault(run.name, run)
    return list(runs.values())


def speed_models(setup: Setup) -> dict[str, str]:
    """Run name -> architecture of the models whose speed is measured: the teachers, one student a head."""
    teachers = {teacher_run(setup, head).name: name for head, name in TEACHERS.items()}
    students = {student_run(setup, *SPEED_STUDENT[head], 0).name: name for head, name in STUDENTS.items()}
    return teachers | students


def selected(runs: list[Run], patterns: list[str] | None) -> list[Run]:
    """The runs matching any pattern (a glob, or else a substring of the name); all without patterns."""
    def match(name: str, pattern: str) -> bool:
        return fnmatch.fnmatch(name, pattern) if any(c in pattern for c in "*?[") else pattern in name

    return [run for run in runs if not patterns or any(match(run.name, p) for p in patterns)]


# ----------------------------------------------------------------------------- running
def machine(threads: int | None = None) -> str:
    """CPU model, usable cores, torch version and threads of this process."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    return (f"{cpu}, {len(os.sched_getaffinity(0))} usable cores of {os.cpu_count()}, torch {torch.__version__}, "
            f"{threads or torch.get_num_threads()} threads")


def finished(setup: Setup) -> dict[str, dict]:
    """The results of every finished run under ``setup.runs``, by run name."""
    return {path.parent.name: json.loads(path.read_text()) for path in sorted(setup.runs.glob(f"*/{RESULT}"))}


def evaluate(model: Path, data: str, out: Path) -> dict:
    """``structkd evaluate ner`` of ``model`` on ``data``: the scores it writes to ``out``."""
    if cli(["evaluate", "ner", "--model", str(model), "--data", data, "--json", str(out)]) != 0:
        raise SystemExit(f"failed: structkd evaluate ner --model {model} --data {data}")
    return json.loads(out.read_text())


def execute(setup: Setup, run: Run, quiet: bool) -> None:
    """Train (or resume, or reuse) ``run`` and evaluate it on dev and test; write its ``result.json``."""
    folder = setup.runs / run.name
    print(f"\n=== {run.name}: structkd {' '.join(run.argv)}", flush=True)
    run_once(folder, list(run.argv) + (["--quiet"] if quiet else []))
    scores = {split: evaluate(folder / "best", setup.file(path), folder / f"{split}.json")
              for split, path in SPLITS.items()}
    summary = json.loads((folder / "summary.json").read_text())
    log = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]
    result = dict(name=run.name, argv=list(run.argv), **scores, best_epoch=summary["epoch"],
                  parameters=summary["parameters"], train_seconds=summary["seconds"],
                  nonfinite_loss_epochs=[e["epoch"] for e in log if not math.isfinite(e["train_loss"])],
                  machine=machine(), finished=datetime.datetime.now().isoformat(timespec="seconds"))
    (folder / RESULT).write_text(json.dumps(result, indent=2))


def status(run: Run, setup: Setup, results: dict) -> str:
    """What state ``run`` is in: done, interrupted, waiting for its teacher, or to do."""
    if run.name in results:
        r = results[run.name]
        other = "" if r["argv"] == list(run.argv) else "  [made with other settings than planned now]"
        return f"done: dev F1 {r['dev']['f1']:.2f}, test F1 {r['test']['f1']:.2f}{other}"
    if (setup.runs / run.name / "checkpoint").exists():
        return "interrupted: will resume from its checkpoint"
    if run.teacher and run.teacher not in results:
        return f"to do, after {run.teacher}"
    return "to do"


def train_all(setup: Setup, runs: list[Run], args) -> None:
    """Run every unfinished run of ``runs`` whose teacher is finished, rewriting the report after each."""
    for run in runs:
        results = finished(setup)
        if run.name in results:
            print(f"{run.name}: done, skipped")
        elif run.teacher and run.teacher not in results:
            print(f"{run.name}: skipped, its teacher {run.teacher} is not finished")
        else:
            started = time.time()
            execute(setup, run, args.quiet)
            print(f"{run.name}: finished in {(time.time() - started) / 60:.1f} min", flush=True)
            write_report(setup, finished(setup), load_speed(setup), args)


def load_speed(setup: Setup, results: dict | None = None) -> dict | None:
    """The stored speed measurement, if it was taken of the models now finished (else None)."""
    path = setup.runs / SPEED
    if not path.exists():
        return None
    speed = json.loads(path.read_text())
    results = finished(setup) if results is None else results
    current = {name: results.get(name, {}).get("finished") for name in speed_models(setup)}
    return speed if speed["models_finished"] == current else None


def measure_speed(setup: Setup, results: dict, threads: int) -> dict:
    """Parameters and sentences per second (batch 32 and 1) of the speed models, all in this process."""
    test = read_uner(setup.file(SPLITS["test"]))
    models = speed_models(setup)
    print(f"\n=== speed: {', '.join(models)} on {len(test)} test sentences", flush=True)
    cpu_start, wall_start = cpu_seconds(), time.perf_counter()
    rows = {name: measure(setup.runs / name / "best", test) for name in models}
    load = other_load(cpu_start, cpu_seconds(), time.perf_counter() - wall_start)
    return {"machine": machine(threads), "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "code": code_version(), "sentences": len(test), "other_load": load, "models": rows,
            "models_finished": {name: results[name]["finished"] for name in models}}


def update_speed(setup: Setup, threads: int, remeasure: bool) -> dict | None:
    """The speed measurement: taken now if every speed model is finished and none is stored for them."""
    results = finished(setup)
    speed = load_speed(setup, results)
    if (speed and not remeasure) or any(name not in results for name in speed_models(setup)):
        return speed
    speed = measure_speed(setup, results, threads)
    (setup.runs / SPEED).write_text(json.dumps(speed, indent=2))
    return speed


# ----------------------------------------------------------------------------- the report
@dataclass
class Scores:
    """One table row's scores over the finished seeds."""

    dev: list[float]
    test: list[float]
    planned: int
    nonfinite: int  # finished runs with a non-finite training loss in some epoch

    @classmethod
    def of(cls, runs: list[Run], results: dict) -> "Scores":
        done = [results[run.name] for run in runs if run.name in results]
        return cls([r["dev"]["f1"] for r in done], [r["test"]["f1"] for r in done], len(runs),
                   sum(bool(r.get("nonfinite_loss_epochs")) for r in done))

    @property
    def complete(self) -> bool:
        return len(self.test) == self.planned > 0

    def mean(self, split: str = "test") -> float:
        return statistics.mean(getattr(self, split))

    def std(self, split: str = "test") -> float | None:
        """Sample standard deviation over the finished seeds (None for fewer than 2)."""
        values = getattr(self, split)
        return statistics.stdev(values) if len(values) > 1 else None

    def cell(self, split: str) -> str:
        if not getattr(self, split):
            return f"n/a (0 of {self.planned} seeds done)"
        std = self.std(split)
        return f"{self.mean(split):.2f} ± {std:.2f}" if std is not None else f"{self.mean(split):.2f}"

    def seeds(self) -> str:
        return str(self.planned) if self.complete else f"{len(self.test)} of {self.planned} done"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows), ""]


def _count(path: str, limit: int | None = None) -> int:
    """Sentences of a UNER (``.iob2``) or raw text file, at most ``limit``."""
    sentences = read_uner(path) if path.endswith(".iob2") else read_text(path)
    return len(sentences[:limit])


def header_section(results: dict, speed: dict | None, command: str) -> list[str]:
    trained_on = sorted({r["machine"] for r in results.values()})
    return [
        "# structkd: NER teachers and distilled students on UNER English-EWT",
        "",
        f"- report written {datetime.datetime.now().isoformat(timespec='seconds')} by `{command}` "
        f"({code_version()}); every result below was measured by that script",
        f"- runs trained on: {'; '.join(trained_on) or 'none yet'}",
        f"- speed measured on: {speed['machine']} ({speed['date']}, {speed['code']})" if speed else
        "- speed: not yet measured (the teachers and the seed-0 structural students must be finished first)",
        "",
    ]


def data_section(setup: Setup) -> list[str]:
    train = _count(setup.file(TRAIN), setup.max_train)
    transfer = ", ".join(f"{stem} ({_count(path):,} sentences, "
                         f"{'CC BY-NC-SA 4.0' if stem in NC_TRANSFER else 'CC BY-SA 4.0'})"
                         for stem, path in zip(setup.transfer, setup.transfer_files()))
    limit = f"the first {train:,} sentences of " if setup.max_train else f"all {train:,} sentences of "
    return [
        "## Data",
        "",
        f"- train: {limit}the **pre-release** UNER English-EWT train file `{TRAIN}` (commit 0c7ce0de; "
        "OTH and stray B-O tags mapped to O, as the official loader does; after that mapping it agrees with "
        "the released annotations at entity F1 98.6 on dev, 95.6 on test, as `../shared/data/README.md` says)",
        f"- dev / test: the **released** files `{SPLITS['dev']}` ({_count(setup.file(SPLITS['dev'])):,} sentences, "
        f"model selection and early stopping) and `{SPLITS['test']}` "
        f"({_count(setup.file(SPLITS['test'])):,} sentences); entity F1 in percent (seqeval, conlleval-style "
        "matching), PER, ORG, LOC",
        f"- transfer text (rows \"+ transfer text\" only, labelled by the teacher only, no gold term): {transfer}",
        "",
    ]


def settings_section(setup: Setup, runs: list[Run], results: dict) -> list[str]:
    def describe(hyper: dict, epochs: int) -> str:
        return (f"AdamW lr {hyper['lr']:g}, batch {hyper['batch_size']}, at most {epochs} epochs, "
                f"patience {hyper['patience']} (best dev F1 epoch kept)")

    other = [run.name for run in runs if run.name in results and results[run.name]["argv"] != list(run.argv)]
    lines = [
        "## Settings",
        "",
        f"- teachers: all-MiniLM-L6-v2 + CRF / MaxEnt / span (BIO tags), seed 0, {describe(TEACHER, setup.teacher_epochs)}",
        f"- students: BiLSTM (2 x 200 per direction, 100-d words, character CNN) + CRF or MaxEnt (BIO), seeds "
        f"0-{setup.seeds - 1}, {describe(STUDENT, setup.student_epochs)}",
        f"- KD: lam = {LAM} (lam * KD + (1 - lam) * gold; transfer sentences: KD alone), temperature 1; the "
        "teacher's marginals over the student's substructures are computed once before training",
        "- every run: `structkd train ner` or `structkd distill ner`, then `structkd evaluate ner` on dev and "
        "test; the exact arguments are in each run's `result.json`",
    ]
    if other:
        lines.append(f"- **{len(other)} finished runs were made with other arguments than these**: {', '.join(other)}")
    return lines + [""]


def teacher_section(setup: Setup, results: dict) -> list[str]:
    rows = []
    for head, name in TEACHERS.items():
        r = results.get(teacher_run(setup, head).name)
        if r is None:
            rows.append([name, "n/a (not finished)", "", "", "", "", ""])
            continue
        per_type = " / ".join(f"{r['test']['per_type'][k]['f1']:.2f}" if k in r["test"]["per_type"] else "n/a"
                              for k in ("PER", "ORG", "LOC"))
        rows.append([name, f"{r['dev']['f1']:.2f}", f"{r['test']['f1']:.2f}", per_type, f"{r['parameters']:,}",
                     str(r["best_epoch"]), f"{r['train_seconds'] / 60:.0f}"])
    return ["## Teachers", "", *_table(["teacher", "dev F1", "test F1", "test F1 PER / ORG / LOC", "parameters",
                                        "best epoch", "train min*"], rows),
            "\\* wall-clock minutes of the session that finished the run (a resumed run: its last session only).", ""]


def student_section(setup: Setup, results: dict) -> list[str]:
    rows, flagged = [], False
    for scenario, (teacher_head, head, methods) in SCENARIOS.items():
        teacher = results.get(teacher_run(setup, teacher_head).name)
        pair = f"{TEACHERS[teacher_head]} -> {STUDENTS[head]}"
        rows.append([scenario, pair, "teacher", *([f"{teacher['dev']['f1']:.2f}", f"{teacher['test']['f1']:.2f}",
                                                   "1"] if teacher else ["n/a", "n/a", "0 of 1 done"])])
        for method in methods:
            scores = Scores.of(row_runs(setup, scenario, method), results)
            flag = f" ‡ ({scores.nonfinite} of {len(scores.test)} runs)" if scores.nonfinite else ""
            flagged = flagged or bool(flag)
            rows.append([scenario, pair, METHODS[method] + flag, scores.cell("dev"), scores.cell("test"),
                         scores.seeds()])
    return ["## Students (BiLSTM) by scenario", "",
            "Entity F1, mean ± sample standard deviation over the finished seeds (teachers: one run, seed 0).", "",
            *_table(["scenario", "teacher -> student", "method", "dev F1", "test F1", "seeds"], rows),
            *(["‡ the training loss was not finite (inf or NaN) in at least one epoch of these runs (see their "
               "`train_log.jsonl`): their scores do not measure the method.", ""] if flagged else [])]


def speed_section(setup: Setup, results: dict, speed: dict | None) -> list[str]:
    if speed is None:
        missing = sorted(set(speed_models(setup)) - set(results))
        why = (f"it needs {', '.join(missing)} finished first" if missing else
               "the models are finished; a run without --report-only measures them")
        return ["## Size and speed", "", f"Not yet measured: {why}.", ""]
    rows = [[label, name, f"{speed['models'][name]['parameters']:,}", f"{speed['models'][name]['speed_32']:.1f}",
             f"{speed['models'][name]['speed_1']:.1f}"] for name, label in speed_models(setup).items()]
    ratios = []
    for scenario, (teacher_head, head, _) in SCENARIOS.items():
        t, s = speed["models"][teacher_run(setup, teacher_head).name], _student_speed(setup, speed, head)
        ratios.append([scenario, f"{TEACHERS[teacher_head]} -> {STUDENTS[head]}",
                       f"{t['parameters'] / s['parameters']:.1f}x", f"{s['speed_32'] / t['speed_32']:.1f}x",
                       f"{s['speed_1'] / t['speed_1']:.1f}x"])
    return ["## Size and speed", "",
            f"Measured in one process on {speed['machine']}: decoding (eval mode, no grad) the {speed['sentences']:,} "
            f"released test sentences in batches of 32 and of 1, after one warm-up batch; other processes kept "
            f"{speed['other_load']:.2f} cores busy on average meanwhile. A student's speed depends on its "
            "architecture only, so one student per head (seed 0) is timed.", "",
            *_table(["model", "run", "parameters", "sentences/s, batch 32", "sentences/s, batch 1"], rows),
            *_table(["scenario", "teacher -> student", "teacher / student parameters", "student / teacher speed, "
                     "batch 32", "student / teacher speed, batch 1"], ratios)]


def _student_speed(setup: Setup, speed: dict, head: str) -> dict:
    return speed["models"][student_run(setup, *SPEED_STUDENT[head], 0).name]


def target_checks(setup: Setup, results: dict, speed: dict | None) -> list[list[str]]:
    """Per scenario, the targets of the structural-KD student on test F1: met, missed or not yet measured."""
    rows = []
    for scenario, (teacher_head, head, _) in SCENARIOS.items():
        teacher = results.get(teacher_run(setup, teacher_head).name)
        scores = {m: Scores.of(row_runs(setup, scenario, m), results) for m in ("gold", "token", "structural")}
        waiting = ["the teacher"] * (teacher is None) + [f"{METHODS[m]} ({s.seeds()})" for m, s in scores.items()
                                                         if not s.complete]
        if waiting:
            rows += [[scenario, target, f"not yet measured: waiting for {', '.join(waiting)}"] for target in TARGETS]
            continue
        ratios = _ratios(setup, speed, teacher_head, head) if speed else None
        checks = [_keep_check(teacher, scores["structural"], ratios), _gold_check(scores["structural"], scores["gold"]),
                  _token_check(scores["structural"], scores["token"], head)]
        if scores["structural"].nonfinite:
            checks = [check + " (‡: the structural-KD runs had a non-finite training loss)" for check in checks]
        rows += [[scenario, target, check] for target, check in zip(TARGETS, checks)]
    return rows


def _ratios(setup: Setup, speed: dict, teacher_head: str, head: str) -> tuple[float, float]:
    """Student / teacher sentences per second at batch 32 and batch 1."""
    t, s = speed["models"][teacher_run(setup, teacher_head).name], _student_speed(setup, speed, head)
    return s["speed_32"] / t["speed_32"], s["speed_1"] / t["speed_1"]


def _verdict(ok: bool, detail: str) -> str:
    return ("met: " if ok else "**missed**: ") + detail


def _keep_check(teacher: dict, structural: Scores, ratios: tuple[float, float] | None) -> str:
    if ratios is None:
        return "not yet measured: no speed measurement of these models yet"
    if teacher["test"]["f1"] <= 0:
        return "not measurable: the teacher's test F1 is 0"
    kept = structural.mean() / teacher["test"]["f1"]
    ok = kept >= F1_KEPT and min(ratios) >= SPEEDUP
    return _verdict(ok, f"{kept:.1%} of the teacher's test F1 ({structural.mean():.2f} vs "
                        f"{teacher['test']['f1']:.2f}; needs {F1_KEPT:.0%}) at {ratios[0]:.1f}x its speed at batch 32 "
                        f"and {ratios[1]:.1f}x at batch 1 (needs {SPEEDUP:g}x at both)")


def _gold_check(structural: Scores, gold: Scores) -> str:
    gain = structural.mean() - gold.mean()
    return _verdict(gain >= GOLD_MARGIN, f"{gain:+.2f} test F1 over gold only (needs +{GOLD_MARGIN:g})")


def _token_check(structural: Scores, token: Scores, head: str) -> str:
    if structural.test == token.test:
        why = (": the span teacher has no per-token scores, so token-level KD takes its exact tag marginals, "
               "which for a MaxEnt student is structural KD itself" if head == "maxent" else "")
        return f"**missed**: token-level KD scores exactly what structural KD scores, seed for seed{why}"
    gain = structural.mean() - token.mean()
    deviations = [d for d in (structural.std(), token.std()) if d is not None]
    if not deviations:
        return "not yet measured: a seed deviation needs at least 2 seeds"
    noise = max(deviations)
    return _verdict(gain > noise, f"{gain:+.2f} test F1 over token-level KD; the larger seed standard deviation "
                                  f"of the two is {noise:.2f}" + ("" if gain > noise else
                                                                  ": the difference is within seed noise"))


def target_section(setup: Setup, results: dict, speed: dict | None) -> list[str]:
    rows = target_checks(setup, results, speed)
    return ["## Targets", "",
            "For the structural-KD student of each scenario (without transfer text), on the released test set, "
            f"mean over {setup.seeds} seeds; speed as in the ratio table.", "",
            *_table(["scenario", "target", "result"], rows)]


def write_report(setup: Setup, results: dict, speed: dict | None, args) -> None:
    """Write the markdown report and its plot beside it."""
    command = "python benchmarks/ner.py " + " ".join(args.argv)
    runs = plan(setup)
    lines = [*header_section(results, speed, command.strip()), *data_section(setup),
             *settings_section(setup, runs, results), *teacher_section(setup, results),
             *student_section(setup, results), *speed_section(setup, results, speed),
             *target_section(setup, results, speed)]
    plot = args.results.with_suffix(".png")
    if speed is not None:
        draw_plot(setup, results, speed, plot)
        lines += ["## Accuracy against speed", "", f"![test F1 against sentences per second]({plot.name})", "",
                  "Students of one architecture share its measured speed; their rows are drawn slightly apart "
                  "around it so that they can be told apart. Error bars: standard deviation over seeds.", ""]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text("\n".join(lines))
    print(f"wrote {args.results}" + (f" and {plot}" if speed is not None else ""))


def draw_plot(setup: Setup, results: dict, speed: dict, path: Path) -> None:
    """Test F1 against sentences per second at batch 32 (log x): the teachers, and every student row
    (mean ± std over its seeds) at the speed of its architecture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    def handle(label: str, marker: str = "", color: str = "black") -> Line2D:
        return Line2D([], [], color=color, marker=marker, linestyle="", markersize=8, label=label)

    fig, ax = plt.subplots(figsize=(11, 6))
    teacher_markers = dict(zip(TEACHERS, "*PX"))
    markers, colors = dict(zip(SCENARIOS, "osD^")), dict(zip(METHODS, plt.get_cmap("tab10").colors))
    for head, marker in teacher_markers.items():
        name = teacher_run(setup, head).name
        ax.plot(speed["models"][name]["speed_32"], results[name]["test"]["f1"], marker, color="black", markersize=11)
    for head, label in STUDENTS.items():
        x = _student_speed(setup, speed, head)["speed_32"]
        rows = [(scenario, method) for scenario, (_, h, methods) in SCENARIOS.items() if h == head for method in methods]
        for i, (scenario, method) in enumerate(rows):
            scores = Scores.of(row_runs(setup, scenario, method), results)
            if scores.test:  # rows of one architecture are spread around its speed, to be told apart
                ax.errorbar(x * DODGE ** (i - (len(rows) - 1) / 2), scores.mean(),
                            yerr=scores.std() or 0, fmt=markers[scenario], color=colors[method],
                            capsize=3, markersize=7, alpha=0.85)
        ax.text(x, 0.02, label, ha="center", va="bottom", fontsize=8, transform=ax.get_xaxis_transform())
    ax.set_xscale("log")
    ax.margins(x=0.08)
    ax.set_xlabel(f"sentences per second, batch 32 (CPU: {speed['machine']})")
    ax.set_ylabel("test entity F1 (released UNER English-EWT test)")
    ax.set_title("NER: MiniLM teachers and distilled BiLSTM students")
    ax.grid(True, which="both", alpha=0.3)
    legend = ([handle("teachers")] + [handle(TEACHERS[h], m) for h, m in teacher_markers.items()]
              + [handle("students: scenario")] + [handle(f"{s}: {TEACHERS[t]} -> {STUDENTS[h]}", markers[s], "gray")
                                                  for s, (t, h, _) in SCENARIOS.items()]
              + [handle("students: method (mean ± std)")] + [handle(METHODS[m], "o", colors[m]) for m in METHODS])
    ax.legend(handles=legend, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------- command line
def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data",
                        help="folder with UNER_English-EWT/ and unlabeled-en/ (default ../shared/data)")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "ner-bench",
                        help="one folder per run, and speed.json (default runs/ner-bench, git-ignored)")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "ner.md",
                        help="markdown report; the plot is written beside it as .png")
    parser.add_argument("--seeds", type=int, default=3, help="student seeds 0 .. N-1")
    parser.add_argument("--only", action="append", metavar="PATTERN",
                        help="run only runs matching this glob or substring of the name (repeatable)")
    parser.add_argument("--list", action="store_true", help="print the plan and what is done; run nothing")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild the report and plot from the finished runs; no training, no speed measurement")
    parser.add_argument("--remeasure", action="store_true", help="measure the speed again even if it is stored")
    parser.add_argument("--teacher-epochs", type=int, default=TEACHER["epochs"], help="maximum teacher epochs")
    parser.add_argument("--student-epochs", type=int, default=STUDENT["epochs"], help="maximum student epochs")
    parser.add_argument("--max-train", type=int, default=None, help="use the first N training sentences (smoke runs)")
    parser.add_argument("--transfer-nc", action="store_true",
                        help="add the non-commercial transfer files (LinES, ParTUT, GENTLE): research runs only")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="torch CPU threads for training and timing (default: the usable cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars from the training runs")
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    transfer = CC_TRANSFER + (NC_TRANSFER if args.transfer_nc else ())
    setup = Setup(args.data.resolve(), args.runs.resolve(), args.seeds, transfer, args.teacher_epochs,
                  args.student_epochs, args.max_train)
    runs = selected(plan(setup), args.only)
    if args.list:
        results = finished(setup)
        for run in runs:
            print(f"{run.name:<34}{status(run, setup, results)}")
        speed = load_speed(setup, results)
        print(f"speed: {'measured ' + speed['date'] if speed else 'not yet measured'} "
              f"({', '.join(speed_models(setup))})")
        return
    if not args.report_only:
        setup.runs.mkdir(parents=True, exist_ok=True)
        train_all(setup, runs, args)
        update_speed(setup, args.threads, args.remeasure)
    write_report(setup, finished(setup), load_speed(setup), args)


if __name__ == "__main__":
    main()
