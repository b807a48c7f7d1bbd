"""Decoding speed of the BiLSTM students against their trained MiniLM teacher at batch 1 and batch 32, and where
a student's time goes at batch 1 (a profile), all in one process on CPU.

    python benchmarks/latency.py --task ner --data ../shared/data        # writes benchmarks/results/latency.md
    python benchmarks/latency.py --task ner --task dep

Per task: the benchmark's trained teacher (``teacher-crf`` of benchmarks/ner.py, ``teacher-nonprojective`` of
benchmarks/parsing.py, from ``--runs``; a task whose teacher is missing is reported as not measured) and the
student architectures of :data:`STUDENTS` with their benchmark's word inputs (vocabulary of the training
sentences, GloVe vectors) and random weights: a tagger's decoding time depends on its shape, not on its weights,
and so does a head-selection parser's (a per-word argmax; a tree decoder's Chu-Liu-Edmonds runs longer on
untrained scores, so no tree-CRF student is timed here).  Accuracy is the benchmarks' own (ner.md,
ner-student-size.md, parsing.md): the speed-ups measured here do not change what a model outputs.

Timing: the first ``--sentences`` test sentences, decoded in length-ordered batches of 32 and of 1 after one
warm-up batch (:mod:`structkd.throughput`); ``--rounds`` rounds over all the models, each model's median
round reported, so that a slow spell of the machine hits every model alike.  Then a cProfile of one batch-1
pass per student, by component.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime
import pstats
import statistics
import time
from pathlib import Path

import torch

import ner  # noqa: F401  (also puts the repository on sys.path, through harness)
import parsing
from harness import STUDENT_INPUTS, code_version, cpu_seconds, machine, other_load, publish, table
from structkd.encoders import BiLSTMEncoder
from structkd.persistence import load
from structkd.throughput import sentences_per_second

ROOT = Path(__file__).resolve().parents[1]
SPECS = {"ner": ner.SPEC, "dep": parsing.SPEC}
TEACHERS = {"ner": "runs/ner-bench/teacher-crf/best", "dep": "runs/dep-bench/teacher-nonprojective/best"}
#: per task: (label, BiLSTM hidden size, layers, character encoder)
STUDENTS = {
    "ner": [("BiLSTM 2 x 200, char CNN + CRF (the benchmark's)", 200, 2, "cnn"),
            ("BiLSTM 1 x 128, char CNN + CRF", 128, 1, "cnn"),
            ("BiLSTM 1 x 128, no characters + CRF", 128, 1, None)],
    "dep": [("BiLSTM 2 x 200, char CNN, head selection (the benchmark's)", 200, 2, "cnn"),
            ("BiLSTM 1 x 128, char CNN, head selection", 128, 1, "cnn")],
}
TARGETS = {"ner": (10.0, 10.0), "dep": (None, 5.0)}  # student / teacher speed at batch 32 and at batch 1
#: the profile's components: label -> (file suffix, function name) whose cumulative time is reported
COMPONENTS = {
    "BiLSTM encoder (all)": ("encoders/bilstm.py", "forward"),
    "  LSTM": ("encoders/bilstm.py", "run_lstm"),
    "  character vectors": ("encoders/bilstm.py", "_char_vectors"),
    "  word and GloVe lookups": ("structkd/vocab.py", "tensor"),
    "CRF head: emissions + Viterbi": ("taggers/heads.py", "decode"),
    "  Viterbi (NumPy)": ("structkd/decoders/chains.py", "viterbi"),
    "arc and label scorers": ("parsers/scorers.py", "forward"),
    "head decoding": ("parsers/model.py", "decode_heads"),
    "label decoding": ("parsers/model.py", "rel_scores"),
}
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "latency.md"


def student(task: str, train: list, labels: list[str], hidden: int, layers: int, char: str | None):
    """A student of the benchmark's word inputs and the given shape, with random weights."""
    words = [s.tokens for s in train] if task == "ner" else [s.words for s in train]
    torch.manual_seed(0)
    encoder = BiLSTMEncoder.from_corpus(words, vectors=STUDENT_INPUTS["word-vectors"],
                                        extra_vectors=int(STUDENT_INPUTS["glove-words"]), hidden_size=hidden,
                                        num_layers=layers, char_encoder=char)
    if task == "ner":
        from taggers.model import Tagger
        return Tagger(encoder, labels, "crf")
    from parsers.model import Parser
    return Parser(encoder, labels, "head-selection")


def models(task: str, data: Path, runs: Path) -> dict[str, torch.nn.Module] | None:
    """``{label: model}``: the trained teacher first, then the students; None when the teacher is missing."""
    folder = runs / TEACHERS[task]
    if not (folder / "config.json").exists():
        return None
    spec = SPECS[task]
    train = spec.read_test(str(data / spec.train))
    labels = sorted({t for s in train for t in s.tags}) if task == "ner" else sorted({r for s in train for r in s.rels})
    out = {f"MiniLM teacher ({TEACHERS[task].split('/')[1]})": load(folder)}
    for label, hidden, layers, char in STUDENTS[task]:
        out[label] = student(task, train, labels, hidden, layers, char)
    return out


def measure(task: str, data: Path, runs: Path, sentences: int, rounds: int, threads: int) -> dict | None:
    """Median sentences per second of every model at batch 32 and 1 over ``rounds`` rounds, and the profiles."""
    found = models(task, data, runs)
    if found is None:
        return None
    spec = SPECS[task]
    test = spec.read_test(str(data / spec.splits["test"]))[:sentences]
    timed = time_rounds(spec, found, test, rounds, threads)
    predictors = {label: spec.predictor(model.eval()) for label, model in list(found.items())[1:]}
    return timed | {"profiles": {label: profile(predictor, test) for label, predictor in predictors.items()}}


def time_rounds(spec, found: dict[str, torch.nn.Module], test: list, rounds: int, threads: int) -> dict:
    """Sentences per second of every model of ``found`` (label -> model, the reference first) at batch 32 and 1
    on ``test``, ``rounds`` rounds over all the models: ``samples`` (label -> batch -> one value per round),
    ``speeds`` (their medians), ``parameters``, and the conditions (machine, date, code, load meanwhile)."""
    torch.set_num_threads(threads)
    tasks = {label: spec.predictor(model.eval()) for label, model in found.items()}
    date, cpu_start, wall_start = datetime.datetime.now(), cpu_seconds(), time.perf_counter()
    samples: dict[str, dict[str, list[float]]] = {label: {"32": [], "1": []} for label in tasks}
    for _ in range(rounds):
        for label, predictor in tasks.items():
            for batch in ("32", "1"):
                samples[label][batch].append(sentences_per_second(predictor, test, int(batch)))
    load_meanwhile = other_load(cpu_start, cpu_seconds(), time.perf_counter() - wall_start)
    speeds = {label: {batch: statistics.median(values) for batch, values in by_batch.items()}
              for label, by_batch in samples.items()}
    return {"machine": machine("cpu", threads), "date": date.isoformat(timespec="seconds"), "code": code_version(),
            "sentences": len(test), "rounds": rounds, "other_load": load_meanwhile,
            "parameters": {label: m.num_parameters() for label, m in found.items()},
            "speeds": speeds, "samples": samples}


def profile(predictor, test: list) -> dict[str, float]:
    """Seconds of one batch-1 pass (``total``, under cProfile) and the cumulative seconds of each component."""
    predictor.eval_batch_size = 1
    predictor.predict(test[:1])
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(predictor.predict, test)
    total = time.perf_counter() - start
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (calls, primitive, tottime, cumtime, callers)}
    found = {label: sum(v[3] for (path, _, name), v in stats.items() if path.endswith(suffix) and name == function)
             for label, (suffix, function) in COMPONENTS.items()}
    return {"total": total, **{label: seconds for label, seconds in found.items() if seconds > 0}}


def ratio_of_rounds(model: list[float], teacher: list[float]) -> tuple[float, str]:
    """The median over rounds of a model's speed over the teacher's in the same round, and its text with the
    range of the rounds' ratios."""
    ratios = [m / t for m, t in zip(model, teacher)]
    median = statistics.median(ratios)
    return median, f"{median:.1f}x ({min(ratios):.1f}-{max(ratios):.1f})"


def conditions(measured: dict) -> str:
    """The sentence saying how a :func:`time_rounds` measurement was taken."""
    return (f"Measured {measured['date']} on {measured['machine']} ({measured['code']}): the first "
            f"{measured['sentences']} test sentences, median of {measured['rounds']} rounds (speed / the teacher's: "
            "the median of the rounds' ratios, their range in brackets); other processes kept "
            f"{measured['other_load']:.2f} cores busy on average meanwhile.")


def speed_ratios(measured: dict) -> dict[str, dict[str, tuple[float, str]]]:
    """label -> batch (``"32"``, ``"1"``) -> :func:`ratio_of_rounds` against the first model of a
    :func:`time_rounds` measurement."""
    samples = measured["samples"]
    reference = samples[next(iter(samples))]
    return {label: {batch: ratio_of_rounds(by_batch[batch], reference[batch]) for batch in ("32", "1")}
            for label, by_batch in samples.items()}


def speed_table(measured: dict, need_32: float | None, need_1: float) -> list[str]:
    """A :func:`time_rounds` measurement as a table, each model against the first, with whether it meets
    ``need_1`` x the first's speed at batch 1 (and ``need_32`` x at batch 32 unless None)."""
    speeds, parameters, ratios = measured["speeds"], measured["parameters"], speed_ratios(measured)
    teacher = next(iter(speeds))
    rows = []
    for label, speed in speeds.items():
        (ratio_32, text_32), (ratio_1, text_1) = ratios[label]["32"], ratios[label]["1"]
        met = "" if label == teacher else ("yes" if ratio_1 >= need_1 and (need_32 is None or ratio_32 >= need_32)
                                           else "**no**")
        rows.append([label, f"{parameters[label]:,}", f"{speed['32']:.1f}", f"{speed['1']:.1f}", text_32, text_1, met])
    return table(["model", "parameters", "sentences/s, batch 32", "sentences/s, batch 1",
                  "x teacher, batch 32", "x teacher, batch 1", "target met"], rows)


def report(task: str, measured: dict | None) -> list[str]:
    title = {"ner": "NER (UNER English-EWT test)", "dep": "Dependency parsing (UD English-EWT test)"}[task]
    if measured is None:
        return [f"## {title}", "", f"Not measured: the trained teacher `{TEACHERS[task]}` is missing (train it "
                f"with benchmarks/{'ner' if task == 'ner' else 'parsing'}.py)."]
    need_32, need_1 = TARGETS[task]
    target = (f">= {need_1:g}x the teacher's speed at batch 1" +
              (f" and >= {need_32:g}x at batch 32" if need_32 else ""))
    lines = [f"## {title}", "", f"{conditions(measured)}  Target: {target}.", ""]
    lines += speed_table(measured, need_32, need_1)
    profiles = measured["profiles"]
    components = [c for c in COMPONENTS if any(c in p for p in profiles.values())]
    lines += ["", "Where a student's batch-1 time goes (one pass under cProfile, which slows Python-heavy parts "
              "more; cumulative seconds, share of the pass):", ""]
    lines += table(["component", *profiles], [[name.replace("  ", "- "), *(
        f"{p[name]:.2f} s ({p[name] / p['total']:.0%})" if name in p else "—" for p in profiles.values())]
        for name in ["total", *components]])
    return lines


def timing_parser(doc: str, rounds: int, out: Path) -> argparse.ArgumentParser:
    """The options of a benchmark that times the task models of :data:`SPECS` (this one, ``onnx_speed.py``)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", action="append", choices=sorted(SPECS), help="ner, dep (repeatable; default both)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--runs", type=Path, default=ROOT, help="the folder holding runs/ (default: the repository)")
    parser.add_argument("--sentences", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=out)
    return parser


def main(argv=None) -> None:
    args = timing_parser(__doc__, 9, DEFAULT_OUT).parse_args(argv)
    sections = ["# structkd: student and teacher decoding speed, batch 1 and 32 (CPU)", "",
                f"Command: `python benchmarks/latency.py {' '.join(f'--task {t}' for t in args.task or SPECS)}` "
                "(see its docstring for what is timed and why the students have random weights)."]
    for task in args.task or sorted(SPECS, reverse=True):
        sections += ["", *report(task, measure(task, args.data, args.runs, args.sentences, args.rounds, args.threads))]
    publish("\n".join(sections) + "\n", args.out)


if __name__ == "__main__":
    main()
