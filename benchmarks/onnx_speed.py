"""Decoding speed of exported models under onnxruntime against the same models in PyTorch, in one process on CPU.

    python benchmarks/onnx_speed.py --task ner --task dep      # writes benchmarks/results/onnx.md

Per task, the models of benchmarks/latency.py (the trained MiniLM teacher when ``--runs`` has it, and the BiLSTM
students of :data:`latency.STUDENTS` with the benchmark's word inputs and random weights: speed depends on the
shape, not on the weights) are each exported (:mod:`structkd.export`, into a temporary folder) and timed both
ways on the same first ``--sentences`` test sentences, in length-ordered batches of 32 and of 1 after one
warm-up batch (:mod:`structkd.throughput`), ``--rounds`` rounds over all the models (medians reported), torch and
onnxruntime with the same ``--threads``.  Every model's ONNX outputs are compared with its torch outputs on
those sentences: the table says how many differ.
"""
from __future__ import annotations

import datetime
import statistics
import tempfile
import time
from pathlib import Path

import torch

import latency  # noqa: F401  (also puts the repository on sys.path, through harness)
from harness import code_version, cpu_seconds, machine, other_load, publish, table
from structkd.serve import load_exported
from structkd.throughput import sentences_per_second

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "onnx.md"
TARGET = 1.5  #: onnxruntime / PyTorch sentences per second at batch 1, for the BiLSTM students


class OnnxPredictor:
    """An exported model as a :class:`structkd.throughput.Predictor` over the task's sentences."""

    def __init__(self, exported, words):
        self.exported, self.words, self.eval_batch_size = exported, words, 64

    def predict(self, sentences):
        return self.exported.predict([self.words(s) for s in sentences], self.eval_batch_size)


def export(model, folder: Path):
    from parsers.export import export_parser
    from taggers.export import export_tagger
    from taggers.model import Tagger

    return (export_tagger if isinstance(model, Tagger) else export_parser)(model, folder)


def per_sentence(outputs, task: str) -> list:
    """A predictor's outputs one per sentence (a parser's are ``(heads, rels)`` lists)."""
    return list(zip(*outputs)) if task == "dep" else list(outputs)


def measure(task: str, data: Path, runs: Path, sentences: int, rounds: int, threads: int, scratch: Path) -> dict:
    """Median sentences per second of every model, torch and onnxruntime, at batch 32 and 1; outputs compared."""
    spec = latency.SPECS[task]
    found = latency.models(task, data, runs) or {}
    if not found:  # no trained teacher: the students only
        train = spec.read_test(str(data / spec.train))
        labels = sorted({t for s in train for t in s.tags}) if task == "ner" else sorted({r for s in train for r in s.rels})
        found = {label: latency.student(task, train, labels, *shape) for label, *shape in latency.STUDENTS[task]}
    test = spec.read_test(str(data / spec.splits["test"]))[:sentences]
    torch.set_num_threads(threads)
    predictors, differ = {}, {}
    for index, (label, model) in enumerate(found.items()):
        torch_side = spec.predictor(model.eval())
        exported = load_exported(export(model, scratch / f"{task}-{index}"), threads=threads)
        onnx_side = OnnxPredictor(exported, torch_side.words)
        predictors[label] = {"torch": torch_side, "onnx": onnx_side}
        torch_out, onnx_out = (per_sentence(side.predict(test), task) for side in (torch_side, onnx_side))
        differ[label] = sum(a != b for a, b in zip(torch_out, onnx_out))
    date, cpu_start, wall_start = datetime.datetime.now(), cpu_seconds(), time.perf_counter()
    samples = {label: {f"{backend} {batch}": [] for backend in ("torch", "onnx") for batch in (32, 1)}
               for label in predictors}
    for _ in range(rounds):
        for label, sides in predictors.items():
            for backend, predictor in sides.items():
                for batch in (32, 1):
                    samples[label][f"{backend} {batch}"].append(sentences_per_second(predictor, test, batch))
    return {"machine": machine("cpu", threads), "date": date.isoformat(timespec="seconds"), "code": code_version(),
            "sentences": len(test), "rounds": rounds, "samples": samples, "differ": differ,
            "parameters": {label: m.num_parameters() for label, m in found.items()},
            "other_load": other_load(cpu_start, cpu_seconds(), time.perf_counter() - wall_start)}


def ratio(samples: dict, batch: int) -> str:
    """The median over rounds of onnxruntime's speed over torch's in the same round, with the rounds' range."""
    ratios = [o / t for o, t in zip(samples[f"onnx {batch}"], samples[f"torch {batch}"])]
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


def report(task: str, measured: dict) -> list[str]:
    title = {"ner": "NER (UNER English-EWT test)", "dep": "Dependency parsing (UD English-EWT test)"}[task]
    rows = []
    for label, samples in measured["samples"].items():
        median = {key: statistics.median(values) for key, values in samples.items()}
        one = statistics.median(o / t for o, t in zip(samples["onnx 1"], samples["torch 1"]))
        met = "" if "teacher" in label else ("yes" if one >= TARGET else "**no**")
        rows.append([label, f"{measured['parameters'][label]:,}", f"{median['torch 32']:.1f}", f"{median['onnx 32']:.1f}",
                     ratio(samples, 32), f"{median['torch 1']:.1f}", f"{median['onnx 1']:.1f}", ratio(samples, 1), met,
                     str(measured["differ"][label])])
    return [f"## {title}", "",
            f"Measured {measured['date']} on {measured['machine']} ({measured['code']}): the first "
            f"{measured['sentences']} test sentences, median of {measured['rounds']} rounds (onnxruntime / torch: the "
            "median of the rounds' ratios, their range in brackets); other processes kept "
            f"{measured['other_load']:.2f} cores busy on average meanwhile.  Target: onnxruntime >= {TARGET:g}x "
            "PyTorch at batch 1 for the BiLSTM students, and no output differs.", "",
            *table(["model", "parameters", "torch sent/s, b32", "onnx sent/s, b32", "onnx / torch, b32",
                    "torch sent/s, b1", "onnx sent/s, b1", "onnx / torch, b1", "target met", "sentences that differ"],
                   rows)]


def main(argv=None) -> None:
    args = latency.timing_parser(__doc__, 5, DEFAULT_OUT).parse_args(argv)
    tasks = args.task or sorted(latency.SPECS, reverse=True)
    sections = ["# structkd: exported models under onnxruntime against PyTorch (CPU)", "",
                f"Command: `python benchmarks/onnx_speed.py {' '.join(f'--task {t}' for t in tasks)}` (see its "
                "docstring for what is timed)."]
    with tempfile.TemporaryDirectory() as scratch:
        for task in tasks:
            measured = measure(task, args.data, args.runs, args.sentences, args.rounds, args.threads, Path(scratch))
            sections += ["", *report(task, measured)]
    publish("\n".join(sections) + "\n", args.out)


if __name__ == "__main__":
    main()
