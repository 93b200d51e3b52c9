"""Steady-state training: one ``fit`` epoch per round, after a warm-up epoch (compilation).

For Keras and kgraph each round is a ``model.fit(x, y, epochs=1)`` call, so fit()'s per-call
set-up is included (``python -m bench.run`` times epochs inside one fit call instead).
samples/s = ``extra_info["samples"]`` / the round time.
"""

from __future__ import annotations

import pytest

from bench import workloads
from bench.conftest import QUICK, skip_if_kgraph_unfinished
from bench.engines import ENGINES, get_engine


@pytest.mark.parametrize("workload", list(workloads.WORKLOADS))
@pytest.mark.parametrize("engine", ENGINES)
def test_train_epoch(benchmark, bench_env, engine, workload):
    wl = workloads.get(workload)
    eng = bench_env.engine(engine)
    model = bench_env.model(engine, workload, "train")
    x, y = bench_env.data(workload)
    try:
        eng.fit_epochs(model, wl, x, y, 1)  # warm-up: compilation, first epoch
    except Exception as exc:
        skip_if_kgraph_unfinished(engine, f"train {workload}", exc)
        raise
    benchmark.group = f"train epoch: {workload}"
    benchmark.extra_info.update(samples=int(x.shape[0]), batch_size=wl.batch_size, engine=engine)
    rounds = 2 if QUICK else max(3, wl.steady_epochs // 2)
    benchmark.pedantic(eng.fit_epochs, args=(model, wl, x, y, 1), rounds=rounds, iterations=1)


def test_engine_names_are_known():
    for name in ENGINES:
        assert get_engine(name).name == name
