"""onnxruntime sessions for exported graphs (CPU)."""
from __future__ import annotations

from pathlib import Path


def session(path: str | Path, threads: int | None = None, spinning: bool = True):
    """An onnxruntime inference session of the graph at ``path`` on the CPU, with ``threads`` intra-op threads
    (default: onnxruntime's choice).  ``spinning=False`` makes its threads sleep as soon as a run ends instead of
    spinning for more work: right when other work (another graph, a NumPy decoder) needs the cores next."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError("running an exported model needs onnxruntime: pip install onnxruntime") from error
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: not its notes on shapes it inferred
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's own error types (a corrupt or truncated graph) derive from Exception
        if type(error).__module__.startswith("onnxruntime"):
            raise RuntimeError(f"{path}: {one_line(error)}") from error
        raise


def one_line(error: BaseException, limit: int = 300) -> str:
    """An error's message on one line (onnxruntime's span several), cut at ``limit`` characters."""
    return " ".join(str(error).split())[:limit]
