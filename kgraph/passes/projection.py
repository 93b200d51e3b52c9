"""Project a recurrent layer's inputs inside its scan, a few steps ahead of it, when the batch is small.

A recurrent layer's input projection `xp = x @ kernel` is one GEMM over every step, and the scan walks the
steps after it. At batch 1 neither has the rows to use two cores well: the benchmark LSTM's batch-1 predict
spent 46 us in the projection (split across both threads) and then 86 us in the scan, on one. A scan that
reads `x` and the kernel (`rnn_scan` with `projected`, ir/ops/recurrent.py) runs the projection on the second
thread, a chunk of steps at a time, while the walk consumes the chunks already done (recurrent_cpu.py): the
two overlap, and the walk alone sets the pace.

It runs after gradients are derived (a training graph's projection also feeds the kernel's gradient), on
the CPU backend, where the projection is large enough (`PROJECT_MIN_MNK`; the program then runs on Numba's
threads) and the scan does not split its batch across the threads (under `SPLIT_MIN_BATCH` rows).
The threads share the projection's chunks when it is the longer of the two (the walk projects the chunks
no thread has claimed yet): measured on the benchmark LSTM's predict, same process, against the projection
then the scan: 1 row 124-174 us against 173-210, 2 rows 190-196 against 250-260, 8 rows 0.73-0.87 ms against
0.91-1.02, 32 rows 3.0-3.8 ms against 4.5-4.7, 48 rows 5.3-5.7 against 6.5-7.0.
The kernel is a parallel function: a cold compile costs ~1.4 s more (that LSTM's first predict, empty
cache: 5.4-5.6 s against 4.0; from the cache 0.5-0.7 s either way).
"""

from __future__ import annotations

from kgraph.codegen.threads import SPLIT_MIN_BATCH
from kgraph.ir.graph import Graph

# Multiply-adds from which a projection moves into its scan (at the program's rows): the benchmark LSTM's
# batch-1 projection (2.6M) gains the figures above; a product that small no longer splits on its own
# (codegen/threads.py's SPLIT_MIN_MNK with AVX-512), but overlapping it with the walk still pays.
PROJECT_MIN_MNK = 3 << 19


def project_in_scans(graph: Graph, batch_size: int) -> Graph:
    """Returns a copy of `graph` in which each scan fed by a large enough input projection, over fewer than
    SPLIT_MIN_BATCH rows, computes the projection itself (the `matmul` is left for dead-code removal)."""
    graph = graph.copy()
    for scan in [n for n in graph.nodes() if n.op == "rnn_scan" and not n.attrs.get("projected")]:
        matmul = _worth_projecting(graph, scan, batch_size)
        if matmul is None:
            continue
        (x, kernel), (readers, later) = matmul.inputs, _successors(graph, matmul.id)
        if not all(r.id == scan.id or _outputs_of(r, scan) for r in readers):
            continue  # the projection is read elsewhere as well
        attrs = {**scan.attrs, "projected": True}
        new = [graph.add("rnn_scan", [x, *scan.inputs[1:], kernel], scan.origin, **attrs)]
        for reader in readers:
            if reader.op == "rnn_outputs":
                inputs = [new[0], x, *reader.inputs[2:], kernel]
                new.append(graph.add("rnn_outputs", inputs, reader.origin, **attrs))
                graph.replace_uses(reader.id, new[-1])
        graph.replace_uses(scan.id, new[0])
        for node in new:  # they read the kernel now: before any write of it (a training step's update)
            for write in later:
                graph.add_control_edge(node, write)
    return graph


def _worth_projecting(graph: Graph, scan, batch_size: int):
    """The `matmul` projecting `scan`'s inputs (x (batch, steps, width) @ kernel), if the scan should take it
    over: under SPLIT_MIN_BATCH rows, from PROJECT_MIN_MNK multiply-adds; else None."""
    matmul = graph.node(scan.inputs[0])
    if matmul.op != "matmul" or matmul.attrs.get("transpose_a") or matmul.attrs.get("transpose_b"):
        return None
    x, kernel = (graph.type(v) for v in matmul.inputs)
    if x.rank != 3 or kernel.rank != 2:
        return None
    batch, steps, width = x.shape
    rows = batch or batch_size
    worth = rows < SPLIT_MIN_BATCH and rows * steps * width * kernel.shape[1] >= PROJECT_MIN_MNK
    return matmul if worth else None


def _successors(graph: Graph, value: int):
    """The nodes reading `value`, and the ids of those only ordered after it (writes of what it read)."""
    readers, later = [], []
    for consumer in graph.consumers(value):
        if graph.nx.edges[value, consumer]["positions"]:
            readers.append(graph.node(consumer))
        else:
            later.append(consumer)
    return readers, later


def _outputs_of(node, scan) -> bool:
    """Whether `node` is the `rnn_outputs` of `scan` (it takes the stash, then the scan's own operands)."""
    return node.op == "rnn_outputs" and node.inputs == (scan.id, *scan.inputs)
