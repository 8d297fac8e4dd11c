"""onnxruntime sessions tuned for many small calls rather than a few big ones."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from api.errors import BundleError


def session_options() -> ort.SessionOptions:
    """One thread, sequential execution, every graph optimisation.

    A request holds one to a few hundred rows: thread-pool hand-offs would cost more
    than they save, and the api scales with worker processes instead.
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: warnings about unused initializers are noise
    return opts


def open_session(path: Path) -> ort.InferenceSession:
    """A CPU InferenceSession for ``path``; BundleError if the file is not a usable graph."""
    try:
        return ort.InferenceSession(
            str(path), sess_options=session_options(), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own unrelated exception types
        raise BundleError(f"{path}: cannot open ONNX graph: {exc}") from exc
