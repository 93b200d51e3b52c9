"""The backend programs compile for: the configured name, with 'cuda' and 'auto' checked against the machine.

`kgraph.config` only stores and validates the name; whether a GPU is usable is a question for the runtime.
"""

from __future__ import annotations

from kgraph import config
from kgraph.codegen.cpu import ProgramLayout
from kgraph.ir.graph import Graph
from kgraph.runtime.cuda_program import CudaProgram, cuda_unavailable_reason, simulated
from kgraph.runtime.program import CompiledProgram, InterpretedProgram


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


def make_program(planned: Graph, layout: ProgramLayout, title: str):
    """The program of a planned graph on the configured backend: the numpy interpreter, Numba on the CPU, or
    CUDA. Every kind of program (fit, predict, a tape block, a `kgraph.function` step) is made here."""
    backend = resolved_backend()
    if backend == "numpy":
        return InterpretedProgram(planned, layout, title)
    if backend == "cuda":
        return CudaProgram(planned, layout, title)
    return CompiledProgram(planned, layout, title, threads=config.num_threads())
