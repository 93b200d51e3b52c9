"""Fast checks of the harness itself (no benchmarks; ``--benchmark-only`` skips them)."""

from __future__ import annotations

import os

import numpy as np

from bench import report, workloads
from bench.engines import XLA_SINGLE_THREAD_FLAGS, child_env
from bench.run import parse_args, parse_child_output


def test_ratio_reads_greater_is_better_for_kgraph():
    fast, slow = {"median": 2.0}, {"median": 1.0}
    assert report.ratio(fast, slow, higher_is_better=True) == "2.00x"  # throughput: kgraph / other
    assert report.ratio(slow, fast, higher_is_better=False) == "2.00x"  # time: other / kgraph
    assert report.ratio(fast, slow, higher_is_better=None) == ""
    assert report.ratio(None, slow, higher_is_better=True) == ""


def test_failed_cell_shows_first_error_line():
    entry = {"n": 0, "failed": 1, "errors": ["ImportError: no kgraph"]}
    assert report.fmt_entry(entry, "s") == "failed: ImportError: no kgraph"


def test_parse_child_output():
    ok = parse_child_output('noise\nBENCH_JSON {"ok": true, "x": 1}\n', "", 0)
    assert ok == {"ok": True, "x": 1}
    crashed = parse_child_output("", "Traceback...\nSegmentation fault\n", -11)
    assert not crashed["ok"]
    assert crashed["error"] == "killed by SIGSEGV: Segmentation fault"


def test_child_env_threads_and_cache():
    env = child_env("kgraph", 1, "/tmp/cache")
    assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "1"
    assert XLA_SINGLE_THREAD_FLAGS in env["XLA_FLAGS"]
    assert env["KGRAPH_CACHE_DIR"] == "/tmp/cache"
    # Only kgraph gets the cache directory; other engines see the parent's environment unchanged.
    assert child_env("torch", 1, "/tmp/cache").get("KGRAPH_CACHE_DIR") == os.environ.get("KGRAPH_CACHE_DIR")
    assert child_env("torch", 2, None)["OMP_NUM_THREADS"] == "2"


def test_parse_args_aliases():
    args = parse_args(["--engines", "keras,torch", "--quick"])
    assert args.engines == ["keras_jax", "torch"]
    assert args.timeout == 300.0


def test_workload_data_shapes():
    x, y = workloads.get("digits_mlp").load()
    assert x.shape == (1797, 64) and y.shape == (1797, 10)
    assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0
    assert np.all(y.sum(axis=1) == 1.0)
    xq, yq = workloads.get("mnist_mlp").load(quick=True)
    assert xq.shape == (2048, 784) and yq.shape == (2048, 10)
