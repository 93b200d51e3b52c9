"""One measurement in a fresh process; prints one ``BENCH_JSON {...}`` line on stdout.

    python -m bench.child --engine keras_jax --workload digits_mlp --figure train --threads 1 [--quick]

Figures:

* ``cold``    build + compile + one epoch (the parent gives kgraph a fresh cache dir);
* ``train``   build + compile + 1 + N epochs: first epoch (warm cache: the ``cold`` process
              ran before with the same dir), steady-state samples/s over epochs 2..N+1,
              peak RSS, ``model.memory_report`` if the model has one;
* ``predict`` latency at batch 1 and throughput at batch 1024, for every predict path;
* ``gemm``    numpy (and torch) float32 GEMM GFLOP/s, no engine involved.

Thread settings come from the environment the parent built (``bench.engines.child_env``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import traceback
from typing import Any

import numpy as np

from bench import workloads
from bench.engines import first_line, get_engine

MARKER = "BENCH_JSON "

GEMM_SHAPES = ((1024, 1024, 1024), (128, 784, 512))  # (m, k, n): (m x k) @ (k x n)


def time_calls(fn, x, *, warmup: int, min_calls: int, max_calls: int, budget_s: float) -> dict[str, Any]:
    for _ in range(warmup):
        fn(x)
    times = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    deadline = wall0 + budget_s
    while len(times) < max_calls and (len(times) < min_calls or time.perf_counter() < deadline):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    cpu_per_wall = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    arr = np.asarray(times)
    return {
        "cpu_per_wall": cpu_per_wall,
        "median_s": float(np.median(arr)),
        "p10_s": float(np.percentile(arr, 10)),
        "p90_s": float(np.percentile(arr, 90)),
        "min_s": float(arr.min()),
        "calls": len(times),
    }


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def current_rss_mib() -> float | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return None


def blas_info() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("user_api", "internal_api", "num_threads", "version", "threading_layer", "architecture")
    return [{k: d.get(k) for k in keep} for d in threadpool_info()]


def jsonable(obj: Any) -> Any:
    try:
        json.dumps(obj)
        return obj
    except (TypeError, ValueError):
        if isinstance(obj, dict):
            return {str(k): jsonable(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [jsonable(v) for v in obj]
        if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:
            return obj.item()
        return str(obj)


# --------------------------------------------------------------------------- figures


def figure_train(engine, workload, x, y, *, epochs: int, result: dict[str, Any]) -> None:
    t0 = time.perf_counter()
    model = engine.build(workload)
    t_built = time.perf_counter()
    clock_ends, loss, method = engine.fit_epochs(model, workload, x, y, epochs)
    ends = [wall for wall, _ in clock_ends]
    result["build_s"] = t_built - t0
    result["first_epoch_s"] = ends[0] - t0  # build + compile + epoch 1
    result["first_epoch_fit_s"] = ends[0] - t_built
    result["epoch_s"] = [b - a for a, b in zip([t_built, *ends[:-1]], ends, strict=True)]
    result["epoch_timing"] = method
    result["final_loss"] = loss
    result["samples"] = int(x.shape[0])
    result["epochs"] = epochs
    if epochs > 1:
        steady = ends[-1] - ends[0]
        result["steady_s"] = steady
        result["train_samples_per_s"] = x.shape[0] * (epochs - 1) / steady
        result["train_cpu_per_wall"] = (clock_ends[-1][1] - clock_ends[0][1]) / steady
    result["rss_after_train_mib"] = current_rss_mib()
    report = engine.memory_report(model)
    if report is not None:
        result["memory_report"] = jsonable(report)


def figure_predict(engine, workload, x, *, quick: bool, result: dict[str, Any]) -> None:
    model = engine.build(workload)
    paths = engine.predict_paths(model)
    n_out = workload.n_classes
    x1 = np.ascontiguousarray(x[:1])
    reps = -(-1024 // x.shape[0])
    x1024 = (
        np.ascontiguousarray(np.concatenate([x] * reps)[:1024])
        if reps > 1
        else np.ascontiguousarray(x[:1024])
    )
    settings = {
        1: {"warmup": 3, "min_calls": 5, "max_calls": 50, "budget_s": 0.3}
        if quick
        else {"warmup": 20, "min_calls": 50, "max_calls": 3000, "budget_s": 3.0},
        1024: {"warmup": 1, "min_calls": 3, "max_calls": 10, "budget_s": 0.3}
        if quick
        else {"warmup": 3, "min_calls": 10, "max_calls": 300, "budget_s": 3.0},
    }
    for batch, xb in ((1, x1), (1024, x1024)):
        per_path: dict[str, Any] = {}
        for name, fn in paths.items():
            try:
                out = np.asarray(fn(xb))
                if out.shape != (batch, n_out):
                    raise ValueError(f"output shape {out.shape}, expected {(batch, n_out)}")
                if not np.all(np.isfinite(out)):
                    raise ValueError("output has non-finite values")
                stats = time_calls(fn, xb, **settings[batch])
                stats["samples_per_s"] = batch / stats["median_s"]
                per_path[name] = stats
            except Exception as exc:
                per_path[name] = {"error": first_line(exc)}
        ok = {k: v for k, v in per_path.items() if "error" not in v}
        result[f"predict_b{batch}"] = per_path
        if not ok:
            errors = "; ".join(f"{k}: {v['error']}" for k, v in per_path.items())
            raise RuntimeError(f"every predict path failed at batch {batch}: {errors}")
        best = min(ok, key=lambda k: ok[k]["median_s"])
        result[f"predict_b{batch}_best"] = best
    result["latency_b1_s"] = result["predict_b1"][result["predict_b1_best"]]["median_s"]
    result["predict_b1024_samples_per_s"] = result["predict_b1024"][result["predict_b1024_best"]][
        "samples_per_s"
    ]


def figure_gemm(threads: int, *, quick: bool, result: dict[str, Any]) -> None:
    rng = np.random.default_rng(0)
    budget = 0.2 if quick else 1.5
    out: dict[str, Any] = {}
    torch = None
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    for m, k, n in GEMM_SHAPES:
        a = rng.random((m, k), dtype=np.float32)
        b = rng.random((k, n), dtype=np.float32)
        c = np.empty((m, n), dtype=np.float32)
        flop = 2.0 * m * k * n
        key = f"{m}x{k}x{n}"
        stats = time_calls(
            lambda _, a=a, b=b, c=c: np.matmul(a, b, out=c),
            None,
            warmup=2,
            min_calls=3,
            max_calls=200,
            budget_s=budget,
        )
        out[f"numpy {key}"] = {
            "gflops_best": flop / stats["min_s"] / 1e9,
            "gflops_median": flop / stats["median_s"] / 1e9,
            "calls": stats["calls"],
        }
        if torch is not None:
            ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
            stats = time_calls(
                lambda _, ta=ta, tb=tb, tc=tc: torch.mm(ta, tb, out=tc),
                None,
                warmup=2,
                min_calls=3,
                max_calls=200,
                budget_s=budget,
            )
            out[f"torch {key}"] = {
                "gflops_best": flop / stats["min_s"] / 1e9,
                "gflops_median": flop / stats["median_s"] / 1e9,
                "calls": stats["calls"],
            }
    result["gemm"] = out
    result["versions"] = {"numpy": np.__version__, **({"torch": torch.__version__} if torch else {})}


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engine", default="none")
    p.add_argument("--workload", default="none")
    p.add_argument("--figure", required=True, choices=("cold", "train", "predict", "gemm"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = None
    result: dict[str, Any] = {
        "cpus": cpus,
        "engine": args.engine,
        "workload": args.workload,
        "figure": args.figure,
        "threads": args.threads,
        "quick": args.quick,
        "loadavg_start": list(os.getloadavg()),
        "env": {
            k: os.environ.get(k)
            for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "XLA_FLAGS", "KGRAPH_CACHE_DIR")
        },
    }
    t_start = time.perf_counter()
    try:
        if args.figure == "gemm":
            figure_gemm(args.threads, quick=args.quick, result=result)
        else:
            workload = workloads.get(args.workload)
            engine = get_engine(args.engine)
            t = time.perf_counter()
            result["versions"] = engine.setup(args.threads)
            result["import_s"] = time.perf_counter() - t
            x, y = workload.load(args.quick)
            result["rss_after_import_and_data_mib"] = current_rss_mib()
            engine.seed(args.seed)
            if args.figure == "cold":
                figure_train(engine, workload, x, y, epochs=1, result=result)
            elif args.figure == "train":
                figure_train(engine, workload, x, y, epochs=workload.epochs(args.quick), result=result)
            else:
                figure_predict(engine, workload, x, quick=args.quick, result=result)
        result["ok"] = True
    except BaseException as exc:  # report everything, including SystemExit from a broken import
        result["ok"] = False
        result["error"] = first_line(exc)
        result["traceback"] = traceback.format_exc(limit=30)
    result["child_s"] = time.perf_counter() - t_start
    result["peak_rss_mib"] = peak_rss_mib()
    if result.get("rss_after_import_and_data_mib") is not None:
        # What the model, its training/inference state and compilation added on top of imports + data.
        result["peak_rss_over_baseline_mib"] = (
            result["peak_rss_mib"] - result["rss_after_import_and_data_mib"]
        )
    result["blas"] = blas_info()
    sys.stdout.write(MARKER + json.dumps(jsonable(result)) + "\n")
    sys.stdout.flush()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
