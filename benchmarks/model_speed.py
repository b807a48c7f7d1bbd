"""Size and CPU speed of trained model folders, timed one after the other in one process on the same sentences.

    python benchmarks/model_speed.py ner --data ../shared/data/UNER_English-EWT/en_ewt-ud-test.iob2 \\
        teacher=runs/teacher/best student=runs/student/best --sentences 400 --results speed.md

A model is ``FOLDER`` or ``LABEL=FOLDER``. The first one is the reference: the others' speed is also given as
a multiple of its speed, and its parameters as a multiple of theirs (teacher first: "student / teacher speed",
"teacher / student parameters"). Speed is sentences per second decoding (eval mode, no grad) the first
``--sentences`` sentences of ``--data`` (read as the task's benchmark reads its test file) in batches of 32
and of 1, after one warm-up batch (:mod:`structkd.throughput`), on CPU. The table, the machine, the threads and
the load other processes put on the machine meanwhile are printed and, with ``--results``, written as markdown.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import torch

import ner  # noqa: F401  (also puts the repository on sys.path, through harness)
import parsing
from harness import table, time_models

SPECS = {"ner": ner.SPEC, "dep": parsing.SPEC}


def model_argument(text: str) -> tuple[str, Path]:
    """``LABEL=FOLDER`` or ``FOLDER`` (labelled by itself) -> ``(label, folder)``."""
    label, sep, folder = text.rpartition("=")
    return (label, Path(folder)) if sep and label else (text, Path(text))


def measure(task: str, models: list[tuple[str, Path]], data: str, sentences: int | None) -> dict:
    """Parameters and speed of every model (see the module docstring), with the conditions they were taken in."""
    spec = SPECS[task]
    timed = time_models(spec, dict(models), spec.read_test(data)[:sentences])
    return timed | {"data": data, "folders": {label: str(folder) for label, folder in models}}


def report(measured: dict) -> list[str]:
    """The measurement as markdown lines: conditions, then one row per model with its ratios to the first."""
    rows = list(measured["models"].items())
    _, first = rows[0]
    lines = [f"Measured {measured['date']} on {measured['machine']} ({measured['code']}): the first "
             f"{measured['sentences']:,} sentences of `{measured['data']}`; other processes kept "
             f"{measured['other_load']:.2f} cores busy on average meanwhile.", ""]
    return lines + table(
        ["model", "folder", "parameters", "sentences/s, batch 32", "sentences/s, batch 1", "speed / first's, batch 32",
         "speed / first's, batch 1", "first's parameters / its"],
        [[label, measured["folders"][label], f"{r['parameters']:,}", f"{r['speed_32']:.1f}", f"{r['speed_1']:.1f}",
          f"{r['speed_32'] / first['speed_32']:.2f}x", f"{r['speed_1'] / first['speed_1']:.2f}x",
          f"{first['parameters'] / r['parameters']:.2f}x"] for label, r in rows])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(SPECS), help="the models' task family")
    parser.add_argument("models", nargs="+", type=model_argument, metavar="[LABEL=]FOLDER",
                        help="model folders (best/ of a run); the first is the reference")
    parser.add_argument("--data", required=True, help="sentences to decode: a UNER file (ner) or CoNLL-U (dep)")
    parser.add_argument("--sentences", type=int, default=None, help="the first N sentences only (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--results", type=Path, default=None, help="also write the table here (markdown)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    measured = measure(args.task, args.models, args.data, args.sentences)
    lines = report(measured)
    print("\n".join(lines))
    if args.results:
        args.results.write_text("\n".join([f"# Size and speed ({args.task})", "", *lines]))
    return measured


if __name__ == "__main__":
    main()
