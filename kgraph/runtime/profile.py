"""Per-kernel timing of a compiled CPU program: where one step's time goes.

The step function calls its kernels in schedule order; each call line becomes a one-line compiled function of
the same module, and the lines run one after another from Python, each timed over `repeats` calls. Kernels
read and write the program's own arena and the model's store exactly as the step does, so a profile of a
training program also trains (run it on a model you can spare, or save its weights first).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np

from kgraph.codegen.decorators import ENTRY_JIT, FLUSH_DENORMALS, RESTORE_FLOAT_MODE, flushed
from kgraph.codegen.threads import use_threads


@dataclass
class KernelTime:
    name: str
    seconds: float  # mean time of one call


def _step_calls(source: str) -> tuple[str, list[str]]:
    """The step's parameter list and its kernel call lines."""
    match = re.search(r"^def step\((.*)\):\n((?:    .*\n)+)", source, re.M)
    if match is None:
        raise ValueError("The program's source has no step function.")
    lines = [line.strip() for line in match.group(2).splitlines()]
    return match.group(1), [line for line in lines if line not in (FLUSH_DENORMALS, RESTORE_FLOAT_MODE)]


def profile_kernels(
    program, store: np.ndarray, repeats: int = 10, rows: int | None = None
) -> list[KernelTime]:
    """Mean time (KernelTime) of each kernel of `program` over `repeats` calls, on `rows` rows (default: the
    program's batch size; 1 shows where a batch-1 predict's time goes).

    The data inputs are the program's scratch rows: the rows of its last batch.
    """
    if program.layout.inputs and not program.scratch:
        raise ValueError("Run the program once before profiling it: its kernels read the last batch's rows.")
    params, calls = _step_calls(program.source)
    use_threads(program.threads, program.splits_work)  # the pool the program runs on (another may have run)
    namespace = program.module.__dict__
    rows = program.batch_size if rows is None else min(rows, program.batch_size)
    args = (store, program.consts, program.arena, *program.scratch, rows)
    times = []
    for i, call in enumerate(calls):
        name = f"_profile_{i}"
        if name not in namespace:
            decorator = ENTRY_JIT.replace("cache=True", "cache=False")
            body = "\n".join(flushed([f"    {call}"], "    "))  # as the step runs it
            exec(f"{decorator}\ndef {name}({params}):\n{body}\n", namespace)
        runner = namespace[name]
        runner(*args)  # compile and warm up
        start = time.perf_counter()
        for _ in range(repeats):
            runner(*args)
        times.append(KernelTime(call.split("(", 1)[0], (time.perf_counter() - start) / repeats))
    return times


def format_profile(times: list[KernelTime]) -> str:
    total = sum(t.seconds for t in times) or 1.0
    lines = [f"{len(times)} kernels, {total * 1e3:.3f} ms per step"]
    for t in sorted(times, key=lambda t: -t.seconds):
        lines.append(f"  {t.seconds * 1e6:10.1f} us  {100 * t.seconds / total:5.1f}%  {t.name}")
    return "\n".join(lines)
