"""Weight-inherited distillation benchmark: compressed MiniLM students against the layer-sliced and random-init
students of the same shape, on NER scenario 1a (CRF -> CRF) and parsing scenario 1b (tree CRF -> head selection).

Two parts, each resumable:

* shape speed (``--speed-only`` or first of a full run): every candidate shape of :data:`CANDIDATES` and the
  teacher's, with random weights (the speed of a shape is a fact of the machine, not of its weights), timed one
  after the other in one process on the first 400 test sentences at batch 32 and 1, CPU;
* training rows: for every shape of :data:`SHAPES`, WID with gold only, token-level KD and structural KD, and the
  layer-sliced and random-init baselines (structural KD), ``--seeds`` seeds each, evaluated on dev and test.  The
  KD rows learn from the teacher on the training sentences and on ``unlabeled-web`` (as the task benchmarks' KD
  students, whose teacher-target cache they share: the targets do not depend on the student's encoder).

The teachers are the task benchmarks' own (``teacher-crf`` of benchmarks/ner.py, ``teacher-nonprojective`` of
benchmarks/parsing.py), trained here when their folder is missing; they share their runs folder. A finished
row's result is copied to ``benchmarks/results/wid/TASK/`` (kept in git), so a row finished in any session or on any
machine is never trained again, even when its run folder is gone; the report is rebuilt from those files::

    python benchmarks/wid.py --task ner                 # speed of the shapes, then every row, then the report
    python benchmarks/wid.py --task ner --only 'wid-3x192-*-s0'   # some rows only (glob on the row name)
    python benchmarks/wid.py --task dep --device cuda --jobs 6    # rows side by side on a GPU
    python benchmarks/wid.py --report-only              # the report of both tasks from the kept results
"""
from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

import ner
import parsing
from harness import (
    RESULT, ROOT, TRANSFER, Run, Scores, Setup, execute, finished, keep, machine, status, table, teacher_run,
    training_argv,
)
from objective_speed import code_version, cpu_seconds, other_load
from structkd.compression import random_bert, target_shape
from structkd.encoders import TransformerEncoder
from structkd.throughput import size_and_speed

SPECS = {"ner": ner.SPEC, "dep": parsing.SPEC}
SCENARIO = {"ner": "1a", "dep": "1b"}
RESULTS = ROOT / "benchmarks" / "results"

#: the shapes whose speed is measured: (layers, hidden, attention strategy); MiniLM has 12 heads of 32
CANDIDATES = [(3, 192, "dim"), (3, 192, "head"), (2, 256, "head"), (4, 192, "dim"), (3, 256, "head"), (2, 192, "dim"),
              (6, 192, "dim")]
#: the shapes trained (chosen from the speed of the candidates: both >= 5x the teacher at batch 32, where 3 x 192
#: with 12 heads of 16 was 4.3x)
SHAPES = [(3, 192, "head"), (2, 256, "head")]
#: (student encoder, objective) of every row of a shape, most telling first
ROWS = [("wid", "structural"), ("sliced", "structural"), ("wid", "none"), ("wid", "token"), ("random-bert", "structural")]
#: compressed students: AdamW, batch 32, the learning rate decaying linearly to 0 over the epochs; the rate and the
#: compactors' share of it chosen on dev by the pilot of wid-discussion.md (a cut transformer learns far faster
#: at 5e-4 than at the teacher's fine-tuning rate of 5e-5)
STUDENT = {"lr": 5e-4, "batch_size": 32, "epochs": 4, "patience": 3, "schedule": "linear"}
COMPACTOR_LR_SCALE = 0.1
LAM = 0.5
SPEED_SENTENCES = 400
ROUNDS = 3  #: timing rounds over all the models; each model's best round is reported


def shape_name(shape: tuple[int, int, str]) -> str:
    """``3x192`` (layers x width), with ``-head`` when a width that narrows every head drops whole heads instead
    (the CLI's default for MiniLM's 12 heads is "dim" for multiples of 12)."""
    layers, hidden, strategy = shape
    default = "dim" if hidden % 12 == 0 else "head"
    return f"{layers}x{hidden}" + ("" if strategy == default else f"-{strategy}")


def row_name(shape, encoder: str, objective: str, seed: int) -> str:
    """``wid-3x192-head-wid-structural+transfer-s0``: a KD row learns from the transfer text too."""
    method = "gold" if objective == "none" else f"{objective}+transfer"
    return f"wid-{shape_name(shape)}-{encoder.replace('-bert', '')}-{method}-s{seed}"


def teacher_key(task: str) -> str:
    return SPECS[task].scenarios[SCENARIO[task]][0]


def student_key(task: str) -> str:
    return SPECS[task].scenarios[SCENARIO[task]][1]


def row_run(setup: Setup, task: str, shape, encoder: str, objective: str, seed: int) -> Run:
    spec = SPECS[task]
    teacher = teacher_run(setup, spec, teacher_key(task)).name
    layers, hidden, strategy = shape
    cache = setup.target_cache(teacher, student_key(task), objective)  # the task benchmark's
    kd = [] if objective == "none" else ["--lam", str(LAM), "--transfer", *setup.transfer_files(),
                                         "--teacher-cache", str(cache)]
    argv = ("distill", task, "--teacher", str(setup.runs / teacher / "best"), "--student-encoder", encoder,
            "--student-hidden", str(hidden), "--student-layers", str(layers), "--wid-strategy", strategy,
            *spec.model_options(student_key(task), "student-"), "--objective", objective, *kd,
            *(["--wid-compactor-lr-scale", str(COMPACTOR_LR_SCALE)] if encoder == "wid" else []),
            *training_argv(setup, spec, STUDENT, setup.student_epochs, seed))
    return Run(row_name(shape, encoder, objective, seed), argv, teacher)


def plan(setup: Setup, task: str) -> list[Run]:
    """Every row run, seed by seed, shape by shape, in :data:`ROWS` order."""
    return [row_run(setup, task, shape, encoder, objective, seed)
            for seed in range(setup.seeds) for shape in SHAPES for encoder, objective in ROWS]


# ----------------------------------------------------------------------------- kept results
def task_setup(args, task: str) -> Setup:
    """The :class:`~harness.Setup` of ``task``: its runs folder (shared with the task's benchmark) and its kept
    results, ``--kept``/TASK/NAME.json (harness.finished reads both)."""
    runs = (args.runs or ROOT / "runs" / f"{task}-bench").resolve()
    return Setup(args.data.resolve(), runs, args.seeds, TRANSFER, SPECS[task].teacher_hyper["epochs"],
                 args.student_epochs, args.max_train, args.device, (), kept=args.kept / task)


def ensure_teacher(setup: Setup, task: str, quiet: bool) -> None:
    """Train (or resume) the teacher when its model folder is missing (``execute`` keeps its result); keep the
    result of one found trained."""
    run = teacher_run(setup, SPECS[task], teacher_key(task))
    if not (setup.runs / run.name / "best" / "model.safetensors").exists() or \
            not (setup.runs / run.name / RESULT).exists():
        execute(setup, SPECS[task], run, quiet)
    else:
        keep(setup, f"{run.name}.json", (setup.runs / run.name / RESULT).read_text())


def train(setup: Setup, task: str, runs: list[Run], args) -> None:
    """Every unfinished row of ``runs``: in this process, or in ``args.jobs`` workers side by side."""
    todo = [run for run in runs if run.name not in finished(setup)]
    if not todo:
        return
    ensure_teacher(setup, task, args.quiet)
    running: dict[str, subprocess.Popen] = {}
    while todo or running:
        for name, process in list(running.items()):
            if process.poll() is not None:
                del running[name]
                ok = (setup.runs / name / RESULT).exists()  # and kept by the worker's execute
                print(f"{name}: {'finished' if ok else 'FAILED, see ' + name + '.log'}", flush=True)
                write_report(args)
        while todo and len(running) < args.jobs:
            run = todo.pop(0)
            if args.jobs == 1:
                started = time.time()
                execute(setup, SPECS[task], run, args.quiet)  # which keeps its result
                print(f"{run.name}: finished in {(time.time() - started) / 60:.1f} min", flush=True)
                write_report(args)
                continue
            log = open(setup.runs / f"{run.name}.log", "a")
            running[run.name] = subprocess.Popen([sys.executable, sys.argv[0], *args.argv, "--worker", run.name],
                                                 stdout=log, stderr=subprocess.STDOUT)
        time.sleep(2 if running else 0)


# ----------------------------------------------------------------------------- shape speed
def speed_models(task: str, labels: list[str]) -> dict[str, tuple[str, torch.nn.Module]]:
    """``{name: (description, model)}``: the teacher's architecture (MiniLM, "teacher") and every candidate shape
    (by :func:`shape_name`) with random weights, each with the student's output layer over ``labels``."""
    teacher_encoder = TransformerEncoder()
    bert = teacher_encoder.model

    def model(encoder):
        if task == "ner":
            from taggers.model import Tagger
            return Tagger(encoder, labels, student_key(task))
        from parsers.model import Parser
        return Parser(encoder, labels, student_key(task))

    models = {"teacher": ("MiniLM 6 x 384, 12 heads of 32 (the teacher)", model(teacher_encoder))}
    for candidate in CANDIDATES:
        layers, hidden, strategy = candidate
        shape = target_shape(bert.config, hidden, layers, strategy)
        encoder = TransformerEncoder("random", parts=(teacher_encoder.tokenizer, random_bert(bert, shape)))
        models[shape_name(candidate)] = (f"{layers} x {hidden}, {shape.heads} heads of {shape.head_size}, FFN "
                                         f"{shape.ffn}", model(encoder))
    return models


def measure_shapes(setup: Setup, task: str, threads: int, sentences: int = SPEED_SENTENCES) -> dict:
    """Parameters and CPU sentences per second of the teacher and the candidate shapes, in this process, on the
    first ``sentences`` test sentences (the best of :data:`ROUNDS` rounds)."""
    spec = SPECS[task]
    test = spec.read_test(setup.file(spec.splits["test"]))[:sentences]
    labels = (sorted({t for s in test for t in s.tags}) if task == "ner" else sorted({r for s in test for r in s.rels}))
    models = speed_models(task, labels)
    torch.set_num_threads(threads)
    date, cpu_start, wall_start = datetime.datetime.now(), cpu_seconds(), time.perf_counter()
    rows: dict[str, dict] = {}
    for _ in range(ROUNDS):  # round after round, each model's best: a passing load slows one round, not one model
        for name, (description, model) in models.items():
            timed = size_and_speed(spec.predictor(model.eval()), test)
            best = rows.setdefault(name, dict(timed, description=description))
            best.update({key: max(best[key], timed[key]) for key in ("speed_32", "speed_1")})
    for row in rows.values():
        print(f"{row['description']}: {row['speed_32']:.1f} / {row['speed_1']:.1f} sentences/s", flush=True)
    return {"machine": machine("cpu", threads), "date": date.isoformat(timespec="seconds"), "code": code_version(),
            "sentences": len(test), "other_load": other_load(cpu_start, cpu_seconds(), time.perf_counter() - wall_start),
            "models": rows}


def speed_path(setup: Setup) -> Path:
    return setup.kept / "shape-speed.json"


# ----------------------------------------------------------------------------- report
def cell(scores: Scores, split: str) -> str:
    """A row's mean (± the seed deviation) on ``split``, with how many of its seeds are done when not all."""
    values = getattr(scores, split)
    if not values:
        return "not run"
    std = scores.std(split)
    text = f"{scores.mean(split):.2f}" + ("" if std is None else f" ± {std:.2f}")
    return text + ("" if scores.complete else f" ({len(values)} of {scores.planned} seeds)")


def task_section(setup: Setup, task: str) -> list[str]:
    spec, seeds = SPECS[task], setup.seeds
    results = finished(setup, runs=False)  # a runs folder may be shared by both tasks, whose row names are alike
    teacher = results.get(teacher_run(setup, spec, teacher_key(task)).name)
    metric, label = spec.metric, spec.metric_label
    title = {"ner": "NER 1a: MiniLM + CRF teacher -> compressed MiniLM + CRF students (UNER English-EWT)",
             "dep": "Parsing 1b: MiniLM + matrix-tree CRF teacher -> compressed MiniLM + head-selection students "
                    "(UD English-EWT)"}[task]
    lines = [f"## {title}", ""]
    if teacher is None:
        return lines + ["The teacher is not trained yet: no row of this task has run.", ""]
    teacher_test = teacher["test"][metric]
    lines += [f"Teacher: dev {label} {teacher['dev'][metric]:.2f}, test {label} {teacher_test:.2f}, "
              f"{teacher['parameters']:,} parameters ({teacher['machine']}).", ""]
    speed = json.loads(speed_path(setup).read_text()) if speed_path(setup).exists() else None
    rows, checks = [], []
    for shape in SHAPES:
        means = {}
        for encoder, objective in ROWS:
            runs = [row_run(setup, task, shape, encoder, objective, s) for s in range(seeds)]
            scores = means[(encoder, objective)] = Scores.of(runs, results, metric)
            share = (f"{scores.mean() / teacher_test:.1%}" if task == "ner" else
                     f"{scores.mean() - teacher_test:+.2f}") if scores.test else ""
            params = next((f"{results[r.name]['parameters']:,}" for r in runs if r.name in results), "")
            method = "gold only" if objective == "none" else f"{objective} KD"
            rows.append([shape_name(shape), {"wid": "WID", "sliced": "layer-sliced", "random-bert": "random init"}[encoder],
                         method, cell(scores, "dev"), cell(scores, "test"), share, params])
        checks.append(shape_check(task, shape, means, teacher_test, speed))
    lines += table(["shape", "student", "objective", f"dev {label}", f"test {label}",
                    "of the teacher's F1" if task == "ner" else "test LAS - teacher's", "parameters"], rows)
    planned = {row_run(setup, task, shape, e, o, s).name for shape in SHAPES for e, o in ROWS for s in range(seeds)}
    earlier = [[name, f"{r['dev'][metric]:.2f}", f"{r['test'][metric]:.2f}", f"{r['parameters']:,}"]
               for name, r in results.items() if name.startswith("wid-") and name not in planned]
    if earlier:
        lines += ["", "Rows of an earlier plan, kept for the record (AdamW at 5e-5, constant, 3 epochs, compactors "
                  "at the same rate; KD on the training sentences only, no transfer text; 3x192 with 12 heads of "
                  "16, 4.3x the teacher's batch-32 speed); their arguments are in their kept results:", "",
                  *table(["run", f"dev {label}", f"test {label}", "parameters"], earlier)]
    lines += ["", "Targets (WID, its best objective by dev: keeps >= 97% of the teacher's test F1 (NER) or is within "
              "1.5 LAS (parsing), at >= 5x the teacher's CPU speed at batch 32, and beats the layer-sliced baseline by "
              "more than the seed deviation):", ""]
    return lines + [f"- {c}" for c in checks] + [""]


def shape_check(task: str, shape, means: dict, teacher_test: float, speed: dict | None) -> str:
    name = shape_name(shape)
    wid = {o: scores for (e, o), scores in means.items() if e == "wid" and scores.test}
    ratio = shape_speed_ratio(speed, shape)
    speed_text = f"{ratio:.1f}x the teacher's batch-32 speed" if ratio else "speed not measured"
    if not wid:
        return f"{name}: not measured (no WID row has run); {speed_text}"
    objective, best = max(wid.items(), key=lambda kv: kv[1].mean("dev"))  # chosen on dev
    mean = best.mean()
    keeps = mean / teacher_test >= 0.97 if task == "ner" else teacher_test - mean <= 1.5
    sliced = means[("sliced", "structural")]
    if best.std() is not None and sliced.std() is not None:
        spread = max(best.std(), sliced.std())
        beats = f"{'beats' if mean - sliced.mean() > spread else 'does not beat'} the sliced baseline " \
                f"({mean - sliced.mean():+.2f}, seed deviation {spread:.2f})"
    else:
        beats = "against the sliced baseline: needs 2+ seeds of both" + (
            f" (1 seed: {mean - sliced.mean():+.2f})" if sliced.test else "")
    verdict = "met" if keeps and ratio and ratio >= 5 else "missed" if ratio else "open"
    method = "gold only" if objective == "none" else f"{objective} KD"
    return (f"{name}: {verdict} on accuracy and speed: WID + {method} at {mean:.2f} "
            f"({'keeps' if keeps else 'misses'} the accuracy target), {speed_text}; {beats}")


def shape_speed_ratio(speed: dict | None, shape) -> float | None:
    """The shape's batch-32 speed over the teacher's, when measured."""
    row = speed["models"].get(shape_name(shape)) if speed else None
    return row["speed_32"] / speed["models"]["teacher"]["speed_32"] if row else None


def speed_section(setup: Setup, task: str) -> list[str]:
    if not speed_path(setup).exists():
        return [f"Shape speed ({task}): not measured yet.", ""]
    speed = json.loads(speed_path(setup).read_text())
    rows, teacher = speed["models"], speed["models"]["teacher"]
    body = [[r["description"], f"{r['parameters']:,}", f"{r['speed_32']:.1f}", f"{r['speed_1']:.1f}",
             f"{r['speed_32'] / teacher['speed_32']:.2f}", f"{r['speed_1'] / teacher['speed_1']:.2f}"]
            for r in rows.values()]
    head = (f"Shape speed ({'NER, CRF head' if task == 'ner' else 'parsing, head-selection scorer'}), random weights, "
            f"measured {speed['date']} on {speed['machine']} ({speed['code']}): the first {speed['sentences']} test "
            f"sentences, the best of {ROUNDS} rounds over all the models; other processes kept "
            f"{speed['other_load']:.2f} cores busy meanwhile.")
    return [head, ""] + table(["model", "parameters", "sentences/s, batch 32", "sentences/s, batch 1",
                               "speed / teacher's, batch 32", "speed / teacher's, batch 1"], body) + [""]


def write_report(args) -> None:
    lines = ["# Weight-inherited distillation (WID): compressed MiniLM students", "",
             "Generated by `python benchmarks/wid.py` from the kept results in `benchmarks/results/wid/TASK/` (one "
             "JSON per finished run, with its machine and date). Each row trains the student with "
             f"AdamW at {STUDENT['lr']:g} ({STUDENT['schedule']} schedule; WID's compactors at "
             f"{COMPACTOR_LR_SCALE:g} times that), batch {STUDENT['batch_size']}, for at most "
             f"{args.student_epochs} epoch(s) with early stopping on dev; the KD rows use lam {LAM} and the teacher's "
             "targets on the training sentences and on the transfer text `unlabeled-web` (one transfer batch per "
             "gold batch, KD alone there), shared with the task benchmarks. WID compacts the teacher's evenly spaced layers "
             "(1,3,5 of 6 for 3 layers; 2,5 for 2) with the CLI's default schedule (masks every 20 steps, target "
             "widths after 16 updates, lambda 20); the layer-sliced baseline takes the same layers and the first "
             "dimensions of every width; the random-init baseline is a BERT of the same shape from scratch. Every "
             "dev score that selects an epoch is the merged (shipped) student's.", ""]
    for task in ("ner", "dep"):
        setup = task_setup(args, task)
        lines += task_section(setup, task) + speed_section(setup, task)
    if args.discussion and Path(args.discussion).exists():
        lines += Path(args.discussion).read_text().splitlines()
    args.results.write_text("\n".join(lines) + "\n")
    print(f"report: {args.results}")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(SPECS), action="append", help="ner, dep (repeatable; default both)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--runs", type=Path, default=None,
                        help="run folders (default runs/TASK-bench, shared with the task's benchmark and its teacher)")
    parser.add_argument("--results", type=Path, default=RESULTS / "wid.md")
    parser.add_argument("--discussion", type=Path, default=RESULTS / "wid-discussion.md")
    parser.add_argument("--kept", type=Path, default=RESULTS / "wid",
                        help="where finished rows' results are kept, one folder per task (default "
                             "benchmarks/results/wid, in git)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--student-epochs", type=int, default=STUDENT["epochs"])
    parser.add_argument("--max-train", type=int, default=None, help="the first N training sentences (smoke runs)")
    parser.add_argument("--only", action="append", metavar="GLOB", help="rows whose name matches (repeatable)")
    parser.add_argument("--list", action="store_true", help="print the rows and whether they are done")
    parser.add_argument("--speed-only", action="store_true", help="measure the shapes' speed, no training")
    parser.add_argument("--no-speed", action="store_true", help="no speed measurement")
    parser.add_argument("--remeasure", action="store_true", help="measure the shapes' speed again")
    parser.add_argument("--speed-sentences", type=int, default=SPEED_SENTENCES,
                        help=f"time the first N test sentences (default {SPEED_SENTENCES})")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1, help="rows trained side by side (worker processes)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads for training and timing (default: torch's)")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)  # the rows trained in this process, and the shape speed
    for task in args.task or sorted(SPECS, reverse=True):
        setup = task_setup(args, task)
        runs = [r for r in plan(setup, task) if not args.only or any(fnmatch.fnmatch(r.name, p) for p in args.only)]
        if args.worker:
            run = next((r for r in runs if r.name == args.worker), None)
            if run:
                execute(setup, SPECS[task], run, True)
            continue
        if args.list:
            done = finished(setup)
            width = max(len(r.name) for r in runs) + 2
            print("\n".join(f"{task} {r.name:<{width}}{status(setup, SPECS[task], r, done)}" for r in runs))
            continue
        if args.report_only:
            continue
        setup.runs.mkdir(parents=True, exist_ok=True)
        if not args.no_speed and (args.remeasure or not speed_path(setup).exists()):
            measured = measure_shapes(setup, task, args.threads or torch.get_num_threads(), args.speed_sentences)
            keep(setup, speed_path(setup).name, json.dumps(measured, indent=2))
        if not args.speed_only:
            train(setup, task, runs, args)
    if not args.worker and not args.list:
        write_report(args)


if __name__ == "__main__":
    main()
