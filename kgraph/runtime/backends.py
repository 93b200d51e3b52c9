"""The backend programs compile for: the configured name, with 'cuda' and 'auto' checked against the machine.

`kgraph.config` only stores and validates the name; whether a GPU is usable is a question for the runtime.
"""

from __future__ import annotations

from kgraph import config
from kgraph.runtime.cuda_program import cuda_unavailable_reason, simulated


def resolved_backend() -> str:
    """`config.backend()`, with 'auto' resolved to 'cuda' where a GPU is usable (never the simulator).

    Raises:
        RuntimeError: If 'cuda' is asked for where it cannot run, saying why (the numba-cuda package is
            missing, no CUDA driver, no GPU).
    """
    name = config.backend()
    if name not in ("cuda", "auto"):
        return name
    reason = cuda_unavailable_reason()
    if name == "auto":
        return "cuda" if reason is None and not simulated() else "cpu"
    if reason is not None:
        raise RuntimeError(
            f"The 'cuda' backend was requested but cannot run here: {reason}. Use 'cpu' or 'auto' "
            "(KGRAPH_BACKEND, kgraph.json or kgraph.config.set_backend)."
        )
    return name
