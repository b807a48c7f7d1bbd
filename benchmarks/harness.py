"""The machinery shared by the task benchmarks (``ner.py``, ``parsing.py``): plan, resume, parallel jobs, report.

A benchmark is a :class:`Spec`: its CLI task family, data, teachers, students, scenarios and KD methods.
Every run is one ``structkd train TASK`` or ``structkd distill TASK`` call (in-process, through
``structkd.cli.main``) into its own folder under ``--runs``, followed by ``structkd evaluate TASK`` on the
dev and test files; the run's ``result.json`` marks it finished, and a copy of it is kept in ``--kept`` (a
folder in the repository, one ``NAME.json`` per run), so that a finished run is skipped when the benchmark
is started again, on this machine or another, and an interrupted one is resumed from its checkpoint: a
plan can be completed over several sessions.  The KD students learn from teacher-labelled transfer text; the
runs of one teacher, student factorization and objective share one cache of teacher targets
(``--runs/cache/``; a ``--max-train`` run's own), written by the row's seed-0 run, which the others wait for.
With ``--jobs N`` the runs are spread over N worker processes (a student starts once its teacher is finished);
each worker's output goes to ``RUN.log`` under ``--runs``.  A finished teacher
whose model is gone (results brought back from another machine) blocks its students until
``--retrain-lost-teachers`` trains it again, keeping the old version's result under ``replaced/``; every
distilled run records the teacher version that taught it, and the report has one teacher row per version.

Speed: one process measures parameters and CPU sentences per second (batch 32 and batch 1, the test file) of
every teacher whose model is here and of one student per student architecture, so that a scenario's ratio
compares a teacher and a student timed together.  Models do not outlive the machine that trained them, so each
measurement (a *group*) holds what one session had; a session measures again when it can pair a teacher and a
student that no stored group pairs, and each ratio comes from the latest group that pairs them.  The groups are
kept in ``speed.json`` under ``--runs`` and ``--kept``.  The report (``--results``,
markdown) and its plot (the same name, ``.png``) are rewritten after every finished run.
"""
from __future__ import annotations

import argparse
import datetime
import fnmatch
import functools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from objective_speed import code_version, cpu_seconds, other_load  # noqa: E402  (sibling benchmark)
from structkd.cli import main as cli  # noqa: E402
from structkd.data import read_text_sources  # noqa: E402
from structkd.persistence import load  # noqa: E402
from structkd.throughput import Predictor, size_and_speed  # noqa: E402
from taggers.pipeline import run_once  # noqa: E402

RESULT, SPEED, REPLACED = "result.json", "speed.json", "replaced"
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
    device: str
    fractions: tuple[float, ...] = ()
    kept: Path | None = None  # where finished runs' results are kept (None: under ``runs`` only)

    def file(self, relative: str) -> str:
        return str(self.data / relative)

    def transfer_files(self) -> list[str]:
        return [self.file(path) for path in self.transfer]

    @property
    def transfer_tag(self) -> str:
        """``transfer`` for the openly licensed text alone, ``transfer-nc`` when non-commercial files are added."""
        return "transfer-nc" if set(self.transfer) & set(NC_TRANSFER) else "transfer"

    def target_cache(self, teacher: str, student_key: str, method: str) -> Path:
        """The teacher-target cache of ``teacher``'s targets for the ``student_key`` student and ``method``, shared
        by every run of this plan that needs them; ``--max-train 200`` runs (other sentences) get their own,
        ``...-first200`` (in a shared folder, one set of sentences would replace the other's shards)."""
        first = f"-first{self.max_train}" if self.max_train else ""
        return self.runs / "cache" / f"{teacher}-{student_key}-{method}{first}"


#: transfer text (paths in the data folder): ``unlabeled-web`` (151,887 sentences in EWT-like genres, openly
#: licensed), and the CC BY-NC-SA 4.0 files of ``unlabeled-en`` that ``--transfer-nc`` adds (research runs only)
TRANSFER = ("unlabeled-web",)
NC_TRANSFER = ("unlabeled-en/LinES.txt", "unlabeled-en/ParTUT.txt", "unlabeled-en/GENTLE.txt")


@functools.lru_cache(maxsize=None)
def text_sentences(path: str) -> int:
    """Sentences of a raw-text file or folder (read once per process: the report is rewritten after every run)."""
    return len(read_text_sources([path]))


def transfer_text(setup: Setup) -> str:
    """The transfer text in words: each path, its sentences and licence."""
    return ", ".join(f"`{path}` ({text_sentences(file):,} sentences, "
                     f"{'CC BY-NC-SA 4.0, research runs only' if path in NC_TRANSFER else 'openly licensed: see its README'})"
                     for path, file in zip(setup.transfer, setup.transfer_files()))


#: the word inputs of every BiLSTM student (the CLI's defaults, tuned on NER dev: see benchmarks/results/recipe.md)
STUDENT_INPUTS = {"word-vectors": "glove", "glove-words": "50000", "word-dropout": "0.1"}
#: the methods of the labelled-fraction protocol
FRACTION_METHODS = ("gold", "token", "structural")


@dataclass(frozen=True)
class Run:
    """One CLI training call: its run name, its arguments (without ``--output``), the teacher it needs and the
    runs it waits for (the one that writes the teacher-target cache it reads)."""

    name: str
    argv: tuple[str, ...]
    teacher: str | None = None
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spec:
    """One task benchmark.

    ``teachers`` and ``students`` map a model key to its label; ``scenarios`` maps a scenario name to
    ``(teacher key, student key, methods in table order)``, methods being keys of ``methods`` ("gold",
    "token", "posterior", "topk", "structural"); every KD method learns from the transfer text too.
    ``model_options(key, prefix)`` gives the CLI options that make the model ``key`` (``prefix`` "student-"
    inside ``distill``); ``method_options`` the extra ``distill`` options of a method; ``student_options`` the encoder options of every student (option
    name without its ``student-`` prefix -> value).  ``fraction_scenarios`` are the scenarios also run in the
    labelled-fraction protocol (gold on a fraction of the training sentences, the rest and the transfer text
    teacher-labelled), where structural KD must beat gold only by ``fraction_margin``.  ``predictor(model)`` is the task
    that decodes with a loaded model (what the speed step times); ``keep_target(teacher score, student mean)`` says whether a student
    keeps enough of its teacher's score, as ``(ok, text)``; ``extra_sections(setup)`` adds report lines.
    """

    task: str
    title: str
    metric: str
    metric_label: str
    train: str
    splits: dict[str, str]
    teachers: dict[str, str]
    students: dict[str, str]
    scenarios: dict[str, tuple[str, str, tuple[str, ...]]]
    methods: dict[str, str]
    teacher_hyper: dict
    student_hyper: dict
    model_options: Callable[[str, str], list[str]]
    read_test: Callable[[str], list]
    predictor: Callable[[torch.nn.Module], Predictor]
    keep_target: Callable[[float, float], tuple[bool, str]]
    keep_text: str
    gold_margin: float
    data_lines: Callable[[Setup], list[str]]
    settings_lines: Callable[[Setup], list[str]]
    teacher_columns: tuple[list[str], Callable[[dict], list[str]]]
    lam: float = 0.5
    extra_sections: Callable[[Setup], list[str]] = lambda setup: []
    method_options: dict[str, list[str]] = field(default_factory=dict)
    speedup: float = 10.0
    student_options: dict[str, str] = field(default_factory=dict)
    fraction_scenarios: tuple[str, ...] = ()
    fraction_margin: float = 0.0

    @property
    def targets(self) -> tuple[str, ...]:
        return (f"{self.keep_text} at >= {self.speedup:g}x its speed at batch 32",
                f"beats gold only by >= {self.gold_margin:g} {self.metric_label}",
                "beats token-level KD by more than the seed deviation")


# ----------------------------------------------------------------------------- the plan
def training_argv(setup: Setup, spec: Spec, hyper: dict, epochs: int, seed: int) -> list[str]:
    """Data and optimisation options shared by every training call."""
    limit = ["--max-sentences", str(setup.max_train)] if setup.max_train else []
    schedule = ["--lr-schedule", hyper["schedule"]] if "schedule" in hyper else []
    return ["--train", setup.file(spec.train), "--dev", setup.file(spec.splits["dev"]), *limit, "--epochs",
            str(epochs), "--lr", str(hyper["lr"]), *schedule, "--batch-size", str(hyper["batch_size"]), "--patience",
            str(hyper["patience"]), "--seed", str(seed), "--device", setup.device]


def prefixed(options: dict[str, str], prefix: str) -> list[str]:
    """``{name: value}`` as CLI arguments ``--{prefix}{name} value``."""
    return [part for name, value in options.items() for part in (f"--{prefix}{name}", value)]


def student_encoder_options(spec: Spec, prefix: str) -> list[str]:
    """The BiLSTM encoder options of every student (``prefix`` "student-" inside ``distill``)."""
    return ["--" + prefix + "encoder", "bilstm", *prefixed(spec.student_options, prefix)]


def teacher_run(setup: Setup, spec: Spec, key: str) -> Run:
    """The MiniLM teacher ``key`` (seed 0)."""
    return Run(f"teacher-{key}", ("train", spec.task, "--encoder", "transformer", *spec.model_options(key, ""),
                                  *training_argv(setup, spec, spec.teacher_hyper, setup.teacher_epochs, 0)))


def student_run(setup: Setup, spec: Spec, scenario: str, method: str, seed: int, budget: float = 1.0) -> Run:
    """The BiLSTM student of ``scenario`` trained with ``method``: on gold only, or distilled over the training
    sentences and the transfer text, from the teacher targets that the row's seed-0 run caches for the others.
    ``budget`` scales the epochs and the early-stopping patience (rounded)."""
    teacher_key, key, _ = spec.scenarios[scenario]
    hyper = {**spec.student_hyper, "patience": round(spec.student_hyper["patience"] * budget)}
    training = training_argv(setup, spec, hyper, round(setup.student_epochs * budget), seed)
    if method == "gold":
        return Run(f"gold-{key}-s{seed}", ("train", spec.task, *student_encoder_options(spec, ""),
                                           *spec.model_options(key, ""), *training))
    teacher = teacher_run(setup, spec, teacher_key).name
    labeller = kd_name(setup, scenario, method, 0)
    return Run(kd_name(setup, scenario, method, seed), (
        "distill", spec.task, "--teacher", str(setup.runs / teacher / "best"),
        *student_encoder_options(spec, "student-"), *spec.model_options(key, "student-"), "--objective", method,
        "--lam", str(spec.lam), *spec.method_options.get(method, []), "--transfer", *setup.transfer_files(),
        "--teacher-cache", str(setup.target_cache(teacher, key, method)), *training),
        teacher, () if seed == 0 else (labeller,))


def kd_name(setup: Setup, scenario: str, method: str, seed: int) -> str:
    """``1a-structural+transfer-s0``: the run name of a KD student."""
    return f"{scenario}-{method}+{setup.transfer_tag}-s{seed}"


def fraction_tag(fraction: float) -> str:
    """``gold10`` for 10% of the training sentences with gold."""
    return f"gold{100 * fraction:g}"


def fraction_run(setup: Setup, spec: Spec, scenario: str, method: str, fraction: float, seed: int) -> Run:
    """The student of the labelled-fraction protocol: gold annotation on ``fraction`` of the training sentences
    (``--gold-fraction``, the same ones in every run); with KD, the other training sentences and the transfer
    text are labelled by the teacher (trained on all gold): the same sentences as the full-data run's, whose
    teacher-target cache it reads.

    An epoch holds one batch per gold batch, so over a fraction f of the gold it makes f times a full-data
    epoch's updates: every student here, gold only included, trains for epochs and patience over f, the
    full-data run's number of updates (chosen on NER dev: ``benchmarks/results/recipe-discussion.md``)."""
    base = student_run(setup, spec, scenario, method, seed, 1 / fraction)
    after = () if method == "gold" else (kd_name(setup, scenario, method, 0),)
    return Run(base.name.replace(f"-s{seed}", f"-{fraction_tag(fraction)}-s{seed}"),
               base.argv + ("--gold-fraction", f"{fraction:g}"), base.teacher, after)


def fraction_row_runs(setup: Setup, spec: Spec, scenario: str, method: str, fraction: float) -> list[Run]:
    return [fraction_run(setup, spec, scenario, method, fraction, seed) for seed in range(setup.seeds)]


def teacher_names(setup: Setup, spec: Spec) -> list[str]:
    """The run names of the spec's teachers."""
    return [teacher_run(setup, spec, key).name for key in spec.teachers]


def row_runs(setup: Setup, spec: Spec, scenario: str, method: str) -> list[Run]:
    """The runs (one per seed) behind one row of the student table."""
    return [student_run(setup, spec, scenario, method, seed) for seed in range(setup.seeds)]


def plan(setup: Setup, spec: Spec) -> list[Run]:
    """Every run, teachers first, then the students seed by seed (a gold-only run shared by two scenarios
    appears once)."""
    runs = {run.name: run for run in (teacher_run(setup, spec, key) for key in spec.teachers)}
    for seed in range(setup.seeds):
        for scenario, (_, _, methods) in spec.scenarios.items():
            for method in methods:
                run = student_run(setup, spec, scenario, method, seed)
                runs.setdefault(run.name, run)
    for seed in range(setup.seeds):
        for scenario in spec.fraction_scenarios:
            for fraction in setup.fractions:
                for method in FRACTION_METHODS:
                    run = fraction_run(setup, spec, scenario, method, fraction, seed)
                    runs.setdefault(run.name, run)
    return list(runs.values())


def speed_students(setup: Setup, spec: Spec, key: str) -> list[Run]:
    """The KD students that can stand for architecture ``key`` in the speed step, in order of preference:
    structural KD before token-level KD, seed 0 first (speed depends on the architecture only; every KD
    student has the same vocabulary, over the training and transfer text)."""
    return [student_run(setup, spec, scenario, method, seed) for method in ("structural", "token")
            for seed in range(setup.seeds) for scenario, (_, student, _) in spec.scenarios.items() if student == key]


def speed_models(setup: Setup, spec: Spec, results: dict) -> dict[str, str]:
    """Run name -> role (``teacher:KEY`` or ``student:KEY``) of the models the speed step can time now: every
    finished teacher whose model is here, and per student architecture the first of :func:`speed_students`
    that is."""
    def here(name: str) -> bool:
        return name in results and (setup.runs / name / "best").is_dir()

    roles = {teacher_run(setup, spec, key).name: f"teacher:{key}" for key in spec.teachers}
    roles = {name: role for name, role in roles.items() if here(name)}
    for key in spec.students:
        stand_in = next((run.name for run in speed_students(setup, spec, key) if here(run.name)), None)
        roles |= {stand_in: f"student:{key}"} if stand_in else {}
    return roles


def scenario_pairs(spec: Spec, roles: dict[str, str]) -> set[str]:
    """The scenarios whose teacher and student both have a role in ``roles``."""
    return {scenario for scenario, (teacher, student, _) in spec.scenarios.items()
            if {f"teacher:{teacher}", f"student:{student}"} <= set(roles.values())}


def selected(runs: list[Run], patterns: list[str] | None) -> list[Run]:
    """The runs matching any pattern (a glob, or else a substring of the name); all without patterns."""
    def match(name: str, pattern: str) -> bool:
        return fnmatch.fnmatch(name, pattern) if any(c in pattern for c in "*?[") else pattern in name

    return [run for run in runs if not patterns or any(match(run.name, p) for p in patterns)]


# ----------------------------------------------------------------------------- running
def machine(device: str = "cpu", threads: int | None = None) -> str:
    """The CPU (or, for a CUDA device, the GPU), usable cores, torch version and threads of this process."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    where = f"{cpu}, {len(os.sched_getaffinity(0))} usable cores of {os.cpu_count()}"
    if device.startswith("cuda"):
        where = f"{torch.cuda.get_device_name(torch.device(device))} (CUDA) with {where}"
    return f"{where}, torch {torch.__version__}, {threads or torch.get_num_threads()} threads"


def finished(setup: Setup, runs: bool = True) -> dict[str, dict]:
    """The results of every finished run, by run name: those kept in ``setup.kept`` (``NAME.json``), then (with
    ``runs``) those under ``setup.runs`` (other ``result.json`` files there, such as a peer's, are not runs:
    their ``name`` is not their folder's)."""
    kept = sorted(setup.kept.glob("*.json")) if setup.kept else []
    here = sorted(setup.runs.glob(f"*/{RESULT}")) if runs else []
    results = [json.loads(path.read_text()) for path in [*kept, *here]]
    return {r["name"]: r for r in results if "name" in r}


def keep(setup: Setup, name: str, text: str) -> None:
    """Keep a copy of a result (or of the speed record) in ``setup.kept``."""
    if setup.kept:
        setup.kept.mkdir(parents=True, exist_ok=True)
        (setup.kept / name).write_text(text)


def evaluate(setup: Setup, spec: Spec, model: Path, data: str, out: Path) -> dict:
    """``structkd evaluate TASK`` of ``model`` on ``data``: the scores it writes to ``out``."""
    argv = ["evaluate", spec.task, "--model", str(model), "--data", data, "--json", str(out), "--device", setup.device]
    if cli(argv) != 0:
        raise SystemExit(f"failed: structkd {' '.join(argv)}")
    return json.loads(out.read_text())


def execute(setup: Setup, spec: Spec, run: Run, quiet: bool) -> None:
    """Train (or resume, or reuse) ``run`` and evaluate it on dev and test; write its ``result.json``.  A
    distilled run records the version of its teacher that taught it (the teacher result's ``finished`` stamp)."""
    folder = setup.runs / run.name
    print(f"\n=== {run.name}: structkd {' '.join(run.argv)}", flush=True)
    run_once(folder, list(run.argv) + (["--quiet"] if quiet else []))
    scores = {split: evaluate(setup, spec, folder / "best", setup.file(path), folder / f"{split}.json")
              for split, path in spec.splits.items()}
    summary = json.loads((folder / "summary.json").read_text())
    log = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]
    teacher = json.loads((setup.runs / run.teacher / RESULT).read_text()) if run.teacher else None
    taught_by = {"teacher": {"name": run.teacher, "finished": teacher["finished"]}} if teacher else {}
    result = dict(name=run.name, argv=list(run.argv), **scores, best_epoch=summary["epoch"],
                  parameters=summary["parameters"], train_seconds=summary.get("train_seconds"),
                  call_seconds=summary["seconds"],
                  nonfinite_loss_epochs=[e["epoch"] for e in log if not math.isfinite(e["train_loss"])],
                  machine=machine(setup.device), finished=datetime.datetime.now().isoformat(timespec="seconds"),
                  **taught_by)
    text = json.dumps(result, indent=2)
    (folder / RESULT).write_text(text)
    keep(setup, f"{run.name}.json", text)


def teacher_problem(setup: Setup, run: Run, results: dict) -> str | None:
    """Why ``run`` cannot start: its teacher is not finished, or is finished but its model folder is gone
    (only its result kept, e.g. of runs made on another machine); None when it can."""
    if not run.teacher:
        return None
    if run.teacher not in results:
        return f"its teacher {run.teacher} is not finished"
    model = setup.runs / run.teacher / "best"
    if not model.is_dir():
        return (f"its teacher's model {model} is missing (only the teacher's result is kept); "
                "--retrain-lost-teachers trains that teacher again (the old version's result is kept under "
                f"{REPLACED}/, and the report tells which students each version taught)")
    return None


def replace_teacher(setup: Setup, name: str) -> Path:
    """Move the finished teacher run ``name``, whose model is gone, to ``replaced/NAME-FINISHED`` under the runs
    (its log too) and its kept result to ``replaced/NAME-FINISHED.json`` under ``setup.kept``, so that the
    teacher trains again; the old version's result stays there for the report."""
    result = finished(setup)[name]
    stamp = result["finished"].replace(":", "-")
    target = setup.runs / REPLACED / f"{name}-{stamp}"
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = setup.runs / name
    if folder.is_dir():
        folder.rename(target)
    else:  # only its kept result came back: the replaced version's record goes under the runs too
        target.mkdir()
        (target / RESULT).write_text(json.dumps(result, indent=2))
    if (log := setup.runs / f"{name}.log").exists():
        log.rename(target / log.name)
    if setup.kept and (kept := setup.kept / f"{name}.json").exists():
        (setup.kept / REPLACED).mkdir(exist_ok=True)
        kept.rename(setup.kept / REPLACED / f"{name}-{stamp}.json")
    return target


def replace_lost_teachers(setup: Setup, spec: Spec, runs: list[Run]) -> None:
    """Replace (:func:`replace_teacher`) every teacher among ``runs`` that is finished but has no model."""
    results, teachers = finished(setup), teacher_names(setup, spec)
    for run in runs:
        if run.name in teachers and run.name in results and not (setup.runs / run.name / "best").is_dir():
            print(f"{run.name}: model missing; old version kept as {replace_teacher(setup, run.name)}, training again")


def teacher_versions(setup: Setup, spec: Spec, results: dict) -> dict[str, list[dict]]:
    """Each teacher run's versions, as results: the replaced ones (oldest first), then the current one."""
    paths = sorted((setup.runs / REPLACED).glob(f"*/{RESULT}"))
    paths += sorted((setup.kept / REPLACED).glob("*.json")) if setup.kept else []
    replaced = list({(r["name"], r["finished"]): r for r in (json.loads(path.read_text()) for path in paths)}.values())
    replaced.sort(key=lambda r: r["finished"])
    return {name: [r for r in replaced if r["name"] == name] + ([results[name]] if name in results else [])
            for name in teacher_names(setup, spec)}


def taught(setup: Setup, spec: Spec, results: dict) -> dict[str, dict]:
    """The teacher version (a result of :func:`teacher_versions`) of each finished distilled run, by run name.
    A run without a teacher record (made before runs kept one) counts as taught by the current version."""
    versions, taught_by = teacher_versions(setup, spec, results), {}
    for run in plan(setup, spec):
        if not (run.teacher and run.name in results and versions[run.teacher]):
            continue
        stamp = results[run.name].get("teacher", versions[run.teacher][-1])["finished"]
        match = [v for v in versions[run.teacher] if v["finished"] == stamp]
        if not match:
            raise SystemExit(f"{run.name} was taught by the {run.teacher} finished {stamp}, whose result is neither "
                             f"{setup.runs / run.teacher / RESULT} nor under {setup.runs / REPLACED}")
        taught_by[run.name] = match[0]
    return taught_by


def version_name(version: dict, versions: list[dict]) -> str:
    """"current" or "replaced": which of its teacher's ``versions`` ``version`` is."""
    return "current" if version == versions[-1] else "replaced"


def version_text(version: dict, versions: list[dict]) -> str:
    """Which of its teacher's ``versions`` ``version`` is, where and when it was trained ('' when it is the
    only one)."""
    if len(versions) < 2:
        return ""
    where = version["machine"].split(",")[0].split(" with ")[0]  # "AMD EPYC", "NVIDIA H100 80GB HBM3 (CUDA)"
    return f" ({version_name(version, versions)}, trained on {where}, {version['finished']})"


def status(setup: Setup, spec: Spec, run: Run, results: dict) -> str:
    """What state ``run`` is in: done, interrupted, waiting for its teacher, or to do."""
    if run.name in results:
        r = results[run.name]
        other = "" if r.get("argv") == list(run.argv) else "  [made with other settings than planned now]"
        return f"done: dev {spec.metric_label} {r['dev'][spec.metric]:.2f}, test {r['test'][spec.metric]:.2f}{other}"
    if (setup.runs / run.name / "checkpoint").exists():
        return "interrupted: will resume from its checkpoint"
    if run.teacher and run.teacher not in results:
        return f"to do, after {run.teacher}"
    if waiting := [name for name in run.after if name not in results]:
        return f"to do, after {', '.join(waiting)} (the teacher-target cache)"
    problem = teacher_problem(setup, run, results)
    return f"blocked: {problem}" if problem else "to do"


def train_all(setup: Setup, spec: Spec, runs: list[Run], args) -> None:
    """Run every unfinished run of ``runs`` whose teacher is finished, in this process, rewriting the report
    after each."""
    for run in runs:
        results = finished(setup)
        if run.name in results:
            print(f"{run.name}: done, skipped")
        elif problem := teacher_problem(setup, run, results):
            print(f"{run.name}: skipped, {problem}")
        else:
            started = time.time()
            execute(setup, spec, run, args.quiet)
            print(f"{run.name}: finished in {(time.time() - started) / 60:.1f} min", flush=True)
            write_report(setup, spec, finished(setup), load_speed(setup, spec), args)


def triage(setup: Setup, todo: list[Run], names: set[str], done: dict, failed: set[str]
           ) -> tuple[list[Run], dict[Run, str]]:
    """Split the unstarted runs ``todo`` into those that can start now and those that never will (with the
    reason); the rest wait for a teacher among the runs ``names`` that is neither finished nor failed."""
    problems = {run: teacher_problem(setup, run, done) for run in todo}
    waiting = {run for run in todo if any(name in names and name not in done and name not in failed
                                          for name in (run.teacher, *run.after))}
    ready = [run for run in todo if not problems[run] and run not in waiting]
    return ready, {run: problem for run, problem in problems.items() if problem and run not in waiting}


def train_parallel(setup: Setup, spec: Spec, runs: list[Run], args) -> None:
    """Run the unfinished runs of ``runs`` in up to ``args.jobs`` worker processes (this script with
    ``--worker RUN``), each as soon as its teacher is finished; rewrite the report after each."""
    todo = [run for run in runs if run.name not in finished(setup)]
    names = {run.name for run in runs}
    running: dict[str, subprocess.Popen] = {}
    failed: set[str] = set()
    while todo or running:
        for name, process in list(running.items()):
            if process.poll() is not None:
                del running[name]
                ok = (setup.runs / name / RESULT).exists()
                failed |= set() if ok else {name}
                print(f"{name}: {'finished' if ok else f'FAILED (exit {process.returncode}), see {name}.log'}",
                      flush=True)
                write_report(setup, spec, finished(setup), load_speed(setup, spec), args)
        ready, blocked = triage(setup, todo, names, finished(setup), failed)
        for run, problem in blocked.items():
            print(f"{run.name}: skipped, {problem}")
        todo = [run for run in todo if run not in blocked]
        for run in ready[: args.jobs - len(running)]:
            todo.remove(run)
            log = open(setup.runs / f"{run.name}.log", "a")
            running[run.name] = subprocess.Popen(
                [sys.executable, sys.argv[0], *args.argv, "--worker", run.name, "--quiet"], stdout=log,
                stderr=subprocess.STDOUT)
            print(f"{run.name}: started ({len(running)} running, {len(todo)} waiting)", flush=True)
        time.sleep(2)


def load_speed(setup: Setup, spec: Spec, results: dict | None = None) -> list[dict]:
    """The stored speed groups (oldest first) whose every model is a finished run -- for a teacher, any of its
    versions, since they share one architecture."""
    stored = [setup.runs / SPEED, *([setup.kept / SPEED] if setup.kept else [])]
    path = next((p for p in stored if p.exists()), None)
    if path is None:
        return []
    results = finished(setup) if results is None else results
    versions = teacher_versions(setup, spec, results)
    known = {name: {r["finished"] for r in [*versions.get(name, []), *([results[name]] if name in results else [])]}
             for name in {*versions, *results}}
    return [group for group in json.loads(path.read_text())["groups"]
            if all(stamp in known.get(name, ()) for name, stamp in group["models_finished"].items())]


def measure_speed(setup: Setup, spec: Spec, results: dict, roles: dict[str, str], threads: int,
                  sentences: int | None) -> dict:
    """One speed group: parameters and sentences per second (batch 32 and 1) of the models ``roles`` names,
    all in this process, on CPU, over the first ``sentences`` test sentences (all by default)."""
    test = spec.read_test(setup.file(spec.splits["test"]))[:sentences]
    print(f"\n=== speed: {', '.join(roles)} on {len(test)} test sentences", flush=True)
    timed = time_models(spec, {name: setup.runs / name / "best" for name in roles}, test, threads)
    return timed | {"roles": roles, "models_finished": {name: results[name]["finished"] for name in roles}}


def time_models(spec: Spec, folders: dict[str, Path], test: list, threads: int | None = None) -> dict:
    """Parameters and CPU sentences per second (batch 32 and 1) of the models in ``folders`` (name -> model
    folder), one after the other in this process, on the sentences ``test``; with the machine, the start date,
    the code version and the load other processes put on the machine meanwhile."""
    date, cpu_start, wall_start = datetime.datetime.now(), cpu_seconds(), time.perf_counter()
    rows = {name: size_and_speed(spec.predictor(load(folder)), test) for name, folder in folders.items()}
    others = other_load(cpu_start, cpu_seconds(), time.perf_counter() - wall_start)
    return {"machine": machine("cpu", threads), "date": date.isoformat(timespec="seconds"), "code": code_version(),
            "sentences": len(test), "other_load": others, "models": rows}


def update_speed(setup: Setup, spec: Spec, threads: int, remeasure: bool, sentences: int | None) -> list[dict]:
    """The speed groups, with a new one measured now when the models here pair a teacher and a student of some
    scenario that no stored group pairs (with ``remeasure``: whenever they pair any)."""
    results = finished(setup)
    groups, roles = load_speed(setup, spec, results), speed_models(setup, spec, results)
    paired = set().union(*(scenario_pairs(spec, group["roles"]) for group in groups))
    now = scenario_pairs(spec, roles)
    if not now or (now <= paired and not remeasure):
        return groups
    groups.append(measure_speed(setup, spec, results, roles, threads, sentences))
    text = json.dumps({"groups": groups}, indent=2)
    (setup.runs / SPEED).write_text(text)
    keep(setup, SPEED, text)
    return groups


def latest_pair(spec: Spec, groups: list[dict], scenario: str) -> dict | None:
    """The latest speed group that times the teacher and the student of ``scenario`` together (None: none)."""
    return next((group for group in reversed(groups) if scenario in scenario_pairs(spec, group["roles"])), None)


def timed_as(group: dict, role: str) -> str:
    """The run that holds ``role`` in a speed group."""
    return next(name for name, held in group["roles"].items() if held == role)


# ----------------------------------------------------------------------------- the report
@dataclass
class Scores:
    """One table row's scores (the spec's metric) over the finished seeds."""

    dev: list[float]
    test: list[float]
    planned: int
    nonfinite: int  # finished runs with a non-finite training loss in some epoch

    @classmethod
    def of(cls, runs: list[Run], results: dict, metric: str) -> "Scores":
        done = [results[run.name] for run in runs if run.name in results]
        return cls([r["dev"][metric] for r in done], [r["test"][metric] for r in done], len(runs),
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


def publish(text: str, out: Path) -> None:
    """Print a benchmark's report and write it to ``out``."""
    print(text, end="")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows), ""]


def header_section(spec: Spec, results: dict, groups: list[dict], command: str, notes: Sequence[str]) -> list[str]:
    trained_on = sorted({r["machine"] for r in results.values()})
    used = shown_groups(spec, groups)
    return [
        f"# structkd: {spec.title}",
        "",
        f"- report written {datetime.datetime.now().isoformat(timespec='seconds')} by `{command}` "
        f"({code_version()}); every result below was measured by that script",
        f"- runs trained on: {'; '.join(trained_on) or 'none yet'}",
        f"- speed measured on: {'; '.join(sorted({g['machine'] for g in used}))}" if used else
        "- speed: not yet measured (it needs a teacher and a KD student of its scenario, both with their models)",
        *(f"- note: {note}" for note in notes),
        "",
    ]


def settings_section(setup: Setup, spec: Spec, runs: list[Run], results: dict) -> list[str]:
    other = [run.name for run in runs if run.name in results and results[run.name]["argv"] != list(run.argv)]
    lines = ["## Settings", "", *spec.settings_lines(setup),
             f"- KD: lam = {spec.lam} (lam * KD + (1 - lam) * gold; transfer sentences: KD alone), temperature 1; "
             "the teacher's marginals over the student's substructures are computed once before training",
             f"- every run: `structkd train {spec.task}` or `structkd distill {spec.task}`, then `structkd evaluate "
             f"{spec.task}` on dev and test; the exact arguments are in each run's `result.json`"]
    if other:
        lines.append(f"- **{len(other)} finished runs were made with other arguments than these**: {', '.join(other)}")
    return lines + [""]


def hyper_text(hyper: dict, epochs: int, metric_label: str) -> str:
    """The optimisation settings of a model family, in words."""
    schedule = ", decayed linearly to 0 over the epochs" if hyper.get("schedule") == "linear" else ""
    return (f"AdamW lr {hyper['lr']:g}{schedule}, batch {hyper['batch_size']}, at most {epochs} epochs, "
            f"patience {hyper['patience']} (best dev {metric_label} epoch kept)")


def student_inputs_text(spec: Spec) -> str:
    """The students' word inputs in words."""
    options = spec.student_options
    vectors = {"glove": "frozen GloVe 6B 50-d vectors", "subword": "the teacher's pooled subword vectors"}.get(
        options.get("word-vectors", "none"), "no pretrained vectors")
    extra = f" (and GloVe's {int(options['glove-words']):,} most frequent words)" if options.get("glove-words") else ""
    return (f"100-d trained word embeddings, {vectors}{extra}, word dropout {options.get('word-dropout', '0')}, "
            "character CNN; vocabularies over the training and transfer text")


#: what a "train min" column holds (:func:`train_minutes`)
TRAIN_MINUTES = ("the wall-clock minutes of the run's epochs (training and dev evaluation) over every session "
                 "that trained them; marked \\*, the wall-clock minutes of the session that finished the run, start-up "
                 "included (a run made before the epochs logged their time; a resumed one: its last session only).")


def minutes_cell(train_seconds: float | None, last_call_seconds: float) -> str:
    """A "train min" cell (:data:`TRAIN_MINUTES`): the epochs' minutes over every call when they are known, else
    the last call's, marked \\*."""
    if train_seconds is None:
        return f"{last_call_seconds / 60:.0f}\\*"
    return f"{train_seconds / 60:.0f}"


def train_minutes(result: dict) -> str:
    """A kept run result's :func:`minutes_cell`; a record from before ``call_seconds`` was kept holds the last
    call's wall time under ``train_seconds``."""
    if "call_seconds" not in result:
        return minutes_cell(None, result["train_seconds"])
    return minutes_cell(result["train_seconds"], result["call_seconds"])


def teacher_section(setup: Setup, spec: Spec, results: dict) -> list[str]:
    """One row per teacher version, with the number of finished students it taught."""
    header, cells = spec.teacher_columns
    versions, taught_by = teacher_versions(setup, spec, results), taught(setup, spec, results).values()
    rows = []
    for key, label in spec.teachers.items():
        mine = versions[teacher_run(setup, spec, key).name]
        rows += [[label, "n/a (not finished)", *[""] * (len(header) + 5)]] if not mine else [
            [label + version_text(r, mine), f"{r['dev'][spec.metric]:.2f}", f"{r['test'][spec.metric]:.2f}", *cells(r),
             f"{r['parameters']:,}", str(r["best_epoch"]), train_minutes(r),
             str(sum(v["finished"] == r["finished"] for v in taught_by if v["name"] == r["name"]))] for r in mine]
    return ["## Teachers", "",
            *table(["teacher", f"dev {spec.metric_label}", f"test {spec.metric_label}", *header, "parameters",
                    "best epoch", "train min", "students taught"], rows),
            f"Train min: {TRAIN_MINUTES}",
            *(["A teacher trained again (its model was lost with the machine that made it) has one row per "
               "version; every student run records the version that taught it."] * any(len(v) > 1 for v in
                                                                                     versions.values())), ""]


def student_section(setup: Setup, spec: Spec, results: dict) -> list[str]:
    """Per scenario, the teacher version(s) that taught its students, then one row per method."""
    versions, taught_by = teacher_versions(setup, spec, results), taught(setup, spec, results)
    rows, flagged, mixed = [], False, []
    for scenario, (teacher_key, key, methods) in spec.scenarios.items():
        mine = versions[teacher_run(setup, spec, teacher_key).name]
        pair = f"{spec.teachers[teacher_key]} -> {spec.students[key]}"
        runs = [run for method in methods for run in row_runs(setup, spec, scenario, method)]
        used = [v for v in mine if any(taught_by.get(run.name) == v for run in runs)] or mine[-1:]
        rows += [[scenario, pair, "teacher" + version_text(v, mine), f"{v['dev'][spec.metric]:.2f}",
                  f"{v['test'][spec.metric]:.2f}", "1"] for v in used] or [
            [scenario, pair, "teacher", "n/a", "n/a", "0 of 1 done"]]
        for method in methods:
            row = row_runs(setup, spec, scenario, method)
            scores = Scores.of(row, results, spec.metric)
            flag = f" ‡ ({scores.nonfinite} of {len(scores.test)} runs)" if scores.nonfinite else ""
            flagged = flagged or bool(flag)
            teachers = [taught_by[run.name] for run in row if run.name in taught_by]
            if len({v["finished"] for v in teachers}) > 1:
                flag += " §"
                mixed += [f"{run.name}: {version_name(v, mine)}" for run in row if (v := taught_by.get(run.name))]
            rows.append([scenario, pair, spec.methods[method] + flag, scores.cell("dev"), scores.cell("test"),
                         scores.seeds()])
    m = spec.metric_label
    return ["## Students (BiLSTM) by scenario", "",
            f"{m}, mean ± sample standard deviation over the finished seeds (teachers: one run, seed 0).", "",
            *table(["scenario", "teacher -> student", "method", f"dev {m}", f"test {m}", "seeds"], rows),
            *(["‡ the training loss was not finite (inf or NaN) in at least one epoch of these runs (see their "
               "`train_log.jsonl`): their scores do not measure the method.", ""] if flagged else []),
            *([f"§ the seeds of these rows learned from different versions of their teacher (see Teachers): "
               f"{'; '.join(mixed)}.", ""] if mixed else [])]


def _ratios(spec: Spec, groups: list[dict], scenario: str) -> dict | None:
    """Teacher / student parameters and student / teacher sentences per second at batch 32 and 1 of
    ``scenario``, from the latest group that times both (None: none does), with that group's date."""
    group = latest_pair(spec, groups, scenario)
    if group is None:
        return None
    teacher_key, key, _ = spec.scenarios[scenario]
    t = group["models"][timed_as(group, f"teacher:{teacher_key}")]
    s = group["models"][timed_as(group, f"student:{key}")]
    return {"parameters": t["parameters"] / s["parameters"], "speed_32": s["speed_32"] / t["speed_32"],
            "speed_1": s["speed_1"] / t["speed_1"], "date": group["date"]}


def shown_groups(spec: Spec, groups: list[dict]) -> list[dict]:
    """The groups some scenario's ratio comes from (older groups whose pairs were timed again are not shown)."""
    used = [latest_pair(spec, groups, scenario) for scenario in spec.scenarios]
    return [group for group in groups if any(group is u for u in used)]


def speed_section(setup: Setup, spec: Spec, results: dict, groups: list[dict]) -> list[str]:
    shown = shown_groups(spec, groups)
    labels = {f"teacher:{key}": label for key, label in spec.teachers.items()} | {
        f"student:{key}": label for key, label in spec.students.items()}
    lines = ["## Size and speed", "",
             "Each group below was measured in one process: decoding (eval mode, no grad) the first test sentences in "
             "batches of 32 and of 1, after one warm-up batch. A student's speed depends on its architecture only, "
             "so one KD student per architecture stands for it (seed 0 and structural KD where its model is there). "
             "A scenario's ratio compares a teacher and a student of the same group.", ""]
    if not shown:
        lines += ["Not yet measured: no session has had a teacher and a KD student of one scenario with their "
                  "models (a run without --report-only measures them once it has).", ""]
    for group in shown:
        replaced = {name for name, stamp in group["models_finished"].items()
                    if stamp != results.get(name, {}).get("finished")}  # a teacher timed before it was trained again
        rows = [[labels[role], name + " (replaced version)" * (name in replaced),
                 f"{group['models'][name]['parameters']:,}", f"{group['models'][name]['speed_32']:.1f}",
                 f"{group['models'][name]['speed_1']:.1f}"] for name, role in group["roles"].items()]
        lines += [f"Group of {group['date']} ({group['code']}), {group['machine']}, {group['sentences']:,} sentences; "
                  f"other processes kept {group['other_load']:.2f} cores busy on average meanwhile:", "",
                  *table(["model", "run", "parameters", "sentences/s, batch 32", "sentences/s, batch 1"], rows)]
    ratios = []
    for scenario, (teacher_key, key, _) in spec.scenarios.items():
        r = _ratios(spec, groups, scenario)
        pair = f"{spec.teachers[teacher_key]} -> {spec.students[key]}"
        ratios.append([scenario, pair, f"{r['parameters']:.1f}x", f"{r['speed_32']:.1f}x", f"{r['speed_1']:.1f}x",
                       r["date"]] if r else [scenario, pair, "not yet measured", "", "", ""])
    return lines + table(["scenario", "teacher -> student", "teacher / student parameters",
                          "student / teacher speed, batch 32", "student / teacher speed, batch 1", "group"], ratios)


def _verdict(ok: bool, detail: str) -> str:
    return ("met: " if ok else "**missed**: ") + detail


#: the rows each target compares: keeping the teacher's score, beating gold only, beating token-level KD
TARGET_ROWS = (("structural",), ("structural", "gold"), ("structural", "token"))


def target_checks(setup: Setup, spec: Spec, results: dict, groups: list[dict]) -> list[list[str]]:
    """Per scenario, the targets of the structural-KD student on the test metric: met, missed or not yet
    measured (a target needs the teacher and at least 2 seeds of each row it compares; checks on fewer seeds than
    planned say so)."""
    rows, taught_by = [], taught(setup, spec, results)
    for scenario, (teacher_key, key, _) in spec.scenarios.items():
        teacher = results.get(teacher_run(setup, spec, teacher_key).name)
        scores = {m: Scores.of(row_runs(setup, spec, scenario, m), results, spec.metric)
                  for m in ("gold", "token", "structural")}
        for target, compared in zip(spec.targets, TARGET_ROWS):
            short = [m for m in compared if len(scores[m].test) < min(2, scores[m].planned)]
            waiting = ["the teacher"] * (teacher is None) + [f"{spec.methods[m]} ({scores[m].seeds()})" for m in short]
            if waiting:
                rows.append([scenario, target, f"not yet measured: waiting for {', '.join(waiting)}"])
                continue
            if compared == ("structural",):
                teacher_score = statistics.mean(taught_by[run.name]["test"][spec.metric] for run in
                                                row_runs(setup, spec, scenario, "structural") if run.name in results)
                check = _keep_check(spec, teacher_score, scores["structural"], _ratios(spec, groups, scenario))
            elif compared[1] == "gold":
                check = _gold_check(spec, scores["structural"], scores["gold"])
            else:
                check = _token_check(spec, scores["structural"], scores["token"], key)
            if scores["structural"].nonfinite:
                check += " (‡: the structural-KD runs had a non-finite training loss)"
            check += partial_note({spec.methods[m]: scores[m] for m in compared})
            rows.append([scenario, target, check])
    return rows


def _keep_check(spec: Spec, teacher: float, structural: Scores, ratios: dict | None) -> str:
    if ratios is None:
        return "not yet measured: no speed measurement of these models yet"
    ok, text = spec.keep_target(teacher, structural.mean())
    fast = ratios["speed_32"] >= spec.speedup
    return _verdict(ok and fast, f"{text} at {ratios['speed_32']:.1f}x its speed at batch 32 (needs "
                                 f"{spec.speedup:g}x; at batch 1: {ratios['speed_1']:.1f}x)")


def _gold_check(spec: Spec, structural: Scores, gold: Scores) -> str:
    gain = structural.mean() - gold.mean()
    return _verdict(gain >= spec.gold_margin, f"{gain:+.2f} test {spec.metric_label} over gold only "
                                              f"(needs +{spec.gold_margin:g})")


def _token_check(spec: Spec, structural: Scores, token: Scores, key: str) -> str:
    if structural.test == token.test:
        return ("**missed**: token-level KD scores exactly what structural KD scores, seed for seed: for this "
                "pair the two objectives coincide")
    gain = structural.mean() - token.mean()
    deviations = [d for d in (structural.std(), token.std()) if d is not None]
    if not deviations:
        return "not yet measured: a seed deviation needs at least 2 seeds"
    noise = max(deviations)
    return _verdict(gain > noise, f"{gain:+.2f} test {spec.metric_label} over token-level KD; the larger seed "
                                  f"standard deviation of the two is {noise:.2f}"
                                  + ("" if gain > noise else ": the difference is within seed noise"))


def partial_note(rows: dict[str, "Scores"]) -> str:
    """`` (on the finished seeds only: ...)`` naming the rows (label -> scores) a verdict rests on that lack some
    of their seeds; empty when every row is complete."""
    partial = [f"{label} {scores.seeds()}" for label, scores in rows.items() if not scores.complete]
    return f" (on the finished seeds only: {', '.join(partial)})" if partial else ""


def fraction_section(setup: Setup, spec: Spec, results: dict) -> list[str]:
    """The labelled-fraction protocol: one row per scenario, fraction and method, then the check that
    structural KD beats gold only on the same fraction by ``spec.fraction_margin``."""
    if not (spec.fraction_scenarios and setup.fractions):
        return []
    rows, checks = [], []
    m = spec.metric_label
    for scenario in spec.fraction_scenarios:
        teacher_key, key, _ = spec.scenarios[scenario]
        pair = f"{spec.teachers[teacher_key]} -> {spec.students[key]}"
        for fraction in setup.fractions:
            scores = {method: Scores.of(fraction_row_runs(setup, spec, scenario, method, fraction), results, spec.metric)
                      for method in FRACTION_METHODS}
            rows += [[scenario, pair, f"{fraction:.0%}", spec.methods[method], s.cell("dev"), s.cell("test"),
                      s.seeds()] for method, s in scores.items()]
            structural, gold = scores["structural"], scores["gold"]
            if min(len(structural.test), len(gold.test)) < min(2, structural.planned):
                check = f"not yet measured: structural KD {structural.seeds()}, gold only {gold.seeds()}"
            else:
                gain = structural.mean() - gold.mean()
                check = _verdict(gain >= spec.fraction_margin, f"{gain:+.2f} test {m} over gold only on the same "
                                                                f"{fraction:.0%} (needs +{spec.fraction_margin:g})")
                check += partial_note({"structural KD": structural, "gold only": gold})
            checks.append([scenario, f"{fraction:.0%}", check])
    return ["## Labelled-fraction protocol", "",
            "The teacher is the one above (trained on all gold). Each student sees the gold annotation of a fixed "
            "random fraction of the training sentences (`--gold-fraction`, the same sentences in every run); the "
            "KD students also learn from the teacher's targets on the other training sentences and on the "
            f"transfer text ({', '.join(setup.transfer)}), with no gold term there. An epoch holds one batch per "
            f"gold batch, so every student trains for the full-data run's number of updates: {setup.student_epochs} "
            "epochs and its patience over the fraction (chosen on NER dev, see `recipe-discussion.md`). "
            f"{m}, mean ± sample standard deviation over the finished seeds.", "",
            *table(["scenario", "teacher -> student", "gold", "method", f"dev {m}", f"test {m}", "seeds"], rows),
            *table(["scenario", "gold", "structural KD beats gold only on the same fraction"], checks)]


def target_section(setup: Setup, spec: Spec, results: dict, groups: list[dict]) -> list[str]:
    return ["## Targets", "",
            "For the structural-KD student of each scenario (with the transfer text), on the test set, "
            f"mean over {setup.seeds} seeds; speed as in the ratio table.", "",
            *table(["scenario", "target", "result"], target_checks(setup, spec, results, groups))]


def write_report(setup: Setup, spec: Spec, results: dict, groups: list[dict], args) -> None:
    """Write the markdown report and its plot beside it."""
    shown = [a for i, a in enumerate(args.argv) if a != "--note" and (i == 0 or args.argv[i - 1] != "--note")]
    command = f"python benchmarks/{Path(sys.argv[0]).name} " + " ".join(shown) + " --note ..." * len(args.note or [])
    lines = [*header_section(spec, results, groups, command.strip(), args.note or []), "## Data", "",
             *spec.data_lines(setup), "",
             *settings_section(setup, spec, plan(setup, spec), results), *teacher_section(setup, spec, results),
             *student_section(setup, spec, results), *speed_section(setup, spec, results, groups),
             *target_section(setup, spec, results, groups), *fraction_section(setup, spec, results),
             *spec.extra_sections(setup),
             *([args.discussion.read_text()] if args.discussion else [])]
    plot = args.results.with_suffix(".png")
    timed = timed_models(spec, groups)
    if timed:
        draw_plot(setup, spec, results, timed, plot)
        lines += ["## Accuracy against speed", "", f"![test {spec.metric_label} against sentences per second]"
                  f"({plot.name})", "",
                  "Students of one architecture share its measured speed; their rows are drawn slightly apart "
                  "around it so that they can be told apart. Error bars: standard deviation over seeds.", ""]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text("\n".join(lines))
    print(f"wrote {args.results}" + (f" and {plot}" if timed else ""))


def timed_models(spec: Spec, groups: list[dict]) -> dict[str, tuple[dict, str]]:
    """Role -> ``(speed, finished stamp)`` of each timed teacher and student architecture, from the latest shown
    group that times it."""
    return {role: (group["models"][name], group["models_finished"][name]) for group in shown_groups(spec, groups)
            for name, role in group["roles"].items()}


def draw_plot(setup: Setup, spec: Spec, results: dict, timed: dict[str, tuple[dict, str]], path: Path) -> None:
    """Test metric against sentences per second at batch 32 (log x): the timed teachers, and every student row
    (mean ± std over its seeds) at the speed of its architecture (``timed``: :func:`timed_models`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    def handle(label: str, marker: str = "", color: str = "black") -> Line2D:
        return Line2D([], [], color=color, marker=marker, linestyle="", markersize=8, label=label)

    fig, ax = plt.subplots(figsize=(11, 6))
    teacher_markers = dict(zip(spec.teachers, "*PX"))
    markers, colors = dict(zip(spec.scenarios, "osD^v")), dict(zip(spec.methods, plt.get_cmap("tab10").colors))
    versions = teacher_versions(setup, spec, results)
    for key, marker in teacher_markers.items():  # the teacher version whose speed was measured
        if f"teacher:{key}" not in timed:
            continue
        speed, stamp = timed[f"teacher:{key}"]
        measured = next(v for v in versions[teacher_run(setup, spec, key).name] if v["finished"] == stamp)
        ax.plot(speed["speed_32"], measured["test"][spec.metric], marker, color="black", markersize=11)
    for index, (key, label) in enumerate(spec.students.items()):
        if f"student:{key}" not in timed:
            continue
        x = timed[f"student:{key}"][0]["speed_32"]
        rows = [(scenario, method) for scenario, (_, k, methods) in spec.scenarios.items() if k == key
                for method in methods]
        for i, (scenario, method) in enumerate(rows):
            scores = Scores.of(row_runs(setup, spec, scenario, method), results, spec.metric)
            if scores.test:  # rows of one architecture are spread around its speed, to be told apart
                ax.errorbar(x * DODGE ** (i - (len(rows) - 1) / 2), scores.mean(), yerr=scores.std() or 0,
                            fmt=markers[scenario], color=colors[method], capsize=3, markersize=7, alpha=0.85)
        ax.text(x, 0.02 + 0.04 * index, label, ha="center", va="bottom", fontsize=8,  # stacked: labels may be close
                transform=ax.get_xaxis_transform())
    ax.set_xscale("log")
    ax.margins(x=0.08)
    ax.set_xlabel("CPU sentences per second, batch 32 (machine: see the speed table)")
    ax.set_ylabel(f"test {spec.metric_label}")
    ax.set_title(spec.title)
    ax.grid(True, which="both", alpha=0.3)
    legend = ([handle("teachers")] + [handle(spec.teachers[k], m) for k, m in teacher_markers.items()]
              + [handle("students: scenario")]
              + [handle(f"{s}: {spec.teachers[t]} -> {spec.students[k]}", markers[s], "gray")
                 for s, (t, k, _) in spec.scenarios.items()]
              + [handle("students: method (mean ± std)")] + [handle(spec.methods[m], "o", colors[m])
                                                             for m in spec.methods])
    ax.legend(handles=legend, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------- command line
def parse_args(spec: Spec, description: str, default_results: Path, argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data",
                        help="the data folder (default ../shared/data)")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / f"{spec.task}-bench",
                        help=f"one folder per run, and speed.json (default runs/{spec.task}-bench, git-ignored)")
    parser.add_argument("--results", type=Path, default=default_results,
                        help="markdown report; the plot is written beside it as .png")
    parser.add_argument("--kept", type=Path, default=None,
                        help="the folder where a copy of every finished run's result and of the speed record is kept, "
                             "so that later sessions skip the run (default: the report's name with -runs, beside it: "
                             "benchmarks/results/%s-runs/ in the repository)" % default_results.stem)
    parser.add_argument("--seeds", type=int, default=3, help="student seeds 0 .. N-1")
    parser.add_argument("--only", action="append", metavar="PATTERN",
                        help="run only runs matching this glob or substring of the name (repeatable)")
    parser.add_argument("--list", action="store_true", help="print the plan and what is done; run nothing")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild the report and plot from the finished runs; no training, no speed measurement")
    parser.add_argument("--no-speed", action="store_true", help="train only; do not measure the speed")
    parser.add_argument("--speed-only", action="store_true",
                        help="no training: measure the speed (once its models are finished) and report")
    parser.add_argument("--speed-sentences", type=int, default=None,
                        help="time the first N test sentences only (default: all)")
    parser.add_argument("--remeasure", action="store_true", help="measure the speed again even if it is stored")
    parser.add_argument("--teacher-epochs", type=int, default=spec.teacher_hyper["epochs"],
                        help="maximum teacher epochs")
    parser.add_argument("--student-epochs", type=int, default=spec.student_hyper["epochs"],
                        help="maximum student epochs")
    parser.add_argument("--max-train", type=int, default=None, help="use the first N training sentences (smoke runs)")
    parser.add_argument("--transfer-nc", action="store_true",
                        help="add the non-commercial transfer files (LinES, ParTUT, GENTLE): research runs only")
    parser.add_argument("--fractions", type=float, nargs="*", default=[0.1, 0.3], metavar="F",
                        help="labelled fractions of the labelled-fraction protocol (none: skip it)")
    parser.add_argument("--device", default="cpu", help="torch device for training and evaluation (speed: CPU)")
    parser.add_argument("--retrain-lost-teachers", action="store_true",
                        help="train again the finished teachers whose model folder is gone (runs made on another "
                             "machine), keeping the old version's result for the report")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes training runs side by side")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal: run this one run only
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="torch CPU threads for training and timing (default: the usable cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars from the training runs")
    parser.add_argument("--note", action="append", help="a line for the report's header, e.g. where runs were made")
    parser.add_argument("--discussion", type=Path, default=None,
                        help="a markdown file appended to the report (what the results mean, what was tried; "
                             "default: the report's name with -discussion, beside it, when it exists)")
    args = parser.parse_args(argv)
    beside = args.results.with_name(f"{args.results.stem}-discussion.md")
    args.discussion = args.discussion or (beside if beside.exists() else None)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    return args


def main(spec: Spec, description: str, default_results: Path, argv=None) -> None:
    """The benchmark's command line: list, train (here or in workers), measure the speed, report."""
    args = parse_args(spec, description, default_results, argv)
    torch.set_num_threads(args.threads)
    transfer = TRANSFER + (NC_TRANSFER if args.transfer_nc else ())
    setup = Setup(args.data.resolve(), args.runs.resolve(), args.seeds, transfer, args.teacher_epochs,
                  args.student_epochs, args.max_train, args.device, tuple(args.fractions),
                  (args.kept or args.results.with_name(f"{args.results.stem}-runs")).resolve())
    runs = selected(plan(setup, spec), args.only)
    if args.worker:
        execute(setup, spec, next(run for run in runs if run.name == args.worker), args.quiet)
        return
    if args.list:
        results = finished(setup)
        width = max(len(run.name) for run in runs) + 2
        for run in runs:
            print(f"{run.name:<{width}}{status(setup, spec, run, results)}")
        paired = {scenario: group["date"] for group in load_speed(setup, spec, results)
                  for scenario in scenario_pairs(spec, group["roles"])}
        print("speed: " + ", ".join(f"{scenario} {paired.get(scenario, 'not yet measured')}"
                                    for scenario in spec.scenarios))
        return
    if not args.report_only:
        setup.runs.mkdir(parents=True, exist_ok=True)
        if args.retrain_lost_teachers:
            replace_lost_teachers(setup, spec, runs)
        if not args.speed_only:
            (train_parallel if args.jobs > 1 else train_all)(setup, spec, runs, args)
        if not args.no_speed:
            update_speed(setup, spec, args.threads, args.remeasure, args.speed_sentences)
    write_report(setup, spec, finished(setup), load_speed(setup, spec), args)
