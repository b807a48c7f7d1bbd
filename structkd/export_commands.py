"""The command-line pieces of deployment that every task family shares: the ``export`` verb and the ``predict``
backends (torch, or onnxruntime on an export folder)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

from .commands import COUNT, add_device_option
from .export import CHECK_SENTENCES
from .persistence import load
from .serve import load_exported

BACKENDS = ("torch", "onnx")


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model folder (from train or distill)")
    parser.add_argument("--output", required=True,
                        help="export folder to write (replaced if it exists): ONNX graphs, vocabularies, manifest")


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--backend``, ``--device`` and ``--threads`` of ``predict``."""
    parser.add_argument("--model", required=True, help="model folder, or with --backend onnx an export folder")
    parser.add_argument("--backend", choices=BACKENDS, default="torch",
                        help="torch (a model folder) or onnx (an export folder of structkd export, run by "
                             "onnxruntime without torch)")
    add_device_option(parser)
    parser.add_argument("--threads", type=COUNT, default=None, help="CPU threads (torch's, or onnxruntime's)")


def run_export(args: argparse.Namespace, kind: str, exporter: Callable) -> int:
    """Load the ``kind`` model of ``args.model`` on the CPU and write its export folder with ``exporter``."""
    started = time.time()
    folder = exporter(load(args.model, "cpu", kind=kind), args.output)
    size = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())
    print(f"exported {args.model} -> {folder} ({size / 2 ** 20:.1f} MiB, {time.time() - started:.0f} s); "
          f"onnxruntime's scores equal torch's on {len(CHECK_SENTENCES)} check sentences")
    print(f"predict with: structkd predict ... --backend onnx --model {folder}")
    return 0


def exported_or_none(args: argparse.Namespace, task: str):
    """The exported model of ``args.model`` with ``--backend onnx``, else None (predict with torch)."""
    if args.backend != "onnx":
        return None
    return load_exported(args.model, task, threads=args.threads)
