"""Inference: latency at batch 1 and throughput at batch 1024, for every predict path.

Keras and kgraph: ``predict(x, batch_size=len(x), verbose=0)``, ``predict_on_batch(x)``,
``model(x)``; torch: ``with torch.no_grad(): softmax(model(x))``. The model is untrained
(timing does not depend on the weights). The first call (compilation) is not timed.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench import workloads
from bench.conftest import skip_if_kgraph_unfinished

CASES = [
    *((e, p) for e in ("kgraph", "keras_jax") for p in ("predict_on_batch", "call", "predict")),
    ("torch", "no_grad"),
]


@pytest.mark.parametrize("batch", [1, 1024])
@pytest.mark.parametrize("workload", list(workloads.WORKLOADS))
@pytest.mark.parametrize(("engine", "path"), CASES, ids=[f"{e}-{p}" for e, p in CASES])
def test_predict(benchmark, bench_env, engine, path, workload, batch):
    wl = workloads.get(workload)
    eng = bench_env.engine(engine)
    model = bench_env.model(engine, workload, "predict")
    fn = eng.predict_paths(model)[path]
    xb = bench_env.batch(workload, batch)
    try:
        out = fn(xb)  # compilation, not timed
    except Exception as exc:
        skip_if_kgraph_unfinished(engine, f"{path} on {workload}", exc)
        raise
    assert out.shape == (batch, wl.n_classes)
    assert np.all(np.isfinite(out))
    benchmark.group = f"predict: {workload}, batch {batch}"
    benchmark.extra_info.update(samples=batch, engine=engine, path=path)
    benchmark(fn, xb)
