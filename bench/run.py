"""Benchmark runner: every measurement in its own child process, engines interleaved.

    python -m bench.run [--workloads digits_mlp,mnist_mlp] [--engines kgraph,keras_jax,torch]
                        [--repeats 3] [--threads 1] [--quick]

Order: for each repeat, for each workload, for each figure (cold, train, predict), every engine
in turn (kgraph, keras_jax, torch, kgraph, ...), so that machine noise hits all engines alike.
Each (repeat, engine, workload) gets a fresh cache directory: the ``cold`` child runs on it
empty, the ``train`` and ``predict`` children then find it warm. The machine's GEMM limit is
measured once, first. Raw results go to ``bench/results/<timestamp>.json`` (+ ``.txt`` table).
See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import report, workloads
from bench.child import MARKER
from bench.engines import ENGINES, child_env

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
FIGURES = ("cold", "train", "predict")
GEMM_THREADS = (1, 2)
ENGINE_ALIASES = {"keras": "keras_jax", "jax": "keras_jax", "pytorch": "torch"}


def _split(text: str, known: tuple[str, ...] | list[str], aliases: dict[str, str] | None = None) -> list[str]:
    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        item = (aliases or {}).get(item, item)
        if item not in known:
            raise SystemExit(f"unknown name {item!r}; known: {', '.join(known)}")
        if item not in out:
            out.append(item)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=",".join(workloads.WORKLOADS))
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--figures", default=",".join(FIGURES), help="subset of cold,train,predict")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP/torch/XLA/Numba threads per child")
    p.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin children to --threads CPUs (XLA ignores thread flags; pinning is what limits it)",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, measures nothing")
    p.add_argument("--no-gemm", action="store_true", help="skip the GEMM-limit measurement")
    p.add_argument(
        "--jax-cache",
        action="store_true",
        help="give keras_jax JAX's persistent compilation cache too (default: always a fresh compile)",
    )
    p.add_argument("--timeout", type=float, default=None, help="seconds per child (default 1800, quick 300)")
    p.add_argument("--keep-cache", action="store_true", help="keep the temporary cache directories")
    p.add_argument("--out", default=None, help="JSON path (default bench/results/<timestamp>[-quick].json)")
    args = p.parse_args(argv)
    args.workloads = _split(args.workloads, list(workloads.WORKLOADS))
    args.engines = _split(args.engines, ENGINES, ENGINE_ALIASES)
    args.figures = _split(args.figures, FIGURES)
    if args.timeout is None:
        args.timeout = 300.0 if args.quick else 1800.0
    if args.repeats < 1 or args.threads < 1:
        raise SystemExit("--repeats and --threads must be >= 1")
    return args


# --------------------------------------------------------------------------- machine


def allowed_cpus() -> list[int] | None:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None


def pinned_cpus(threads: int, pin: bool) -> list[int] | None:
    cpus = allowed_cpus()
    if not pin or cpus is None or threads >= len(cpus):
        return None
    return cpus[:threads]


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "n_cpus": os.cpu_count(),
        "allowed_cpus": allowed_cpus(),
        "loadavg_start": list(os.getloadavg()),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        info["git"] = rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        info["git"] = "?"
    return info


# --------------------------------------------------------------------------- children


def parse_child_output(stdout: str, stderr: str, returncode: int) -> dict[str, Any]:
    """The child's JSON line, or a failure record built from its exit status and stderr."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            try:
                return json.loads(line[len(MARKER) :])
            except json.JSONDecodeError as exc:
                return {"ok": False, "error": f"unreadable child output: {exc}"}
    if returncode < 0:
        try:
            why = f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            why = f"killed by signal {-returncode}"
    else:
        why = f"exit code {returncode}"
    last = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return {"ok": False, "error": f"{why}: {last[-1]}" if last else why, "stderr_tail": stderr[-3000:]}


def run_child(
    engine: str,
    workload: str,
    figure: str,
    *,
    threads: int,
    quick: bool,
    env: dict[str, str],
    cpus: list[int] | None,
    timeout: float,
) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.child", "--engine", engine, "--workload", workload]
    cmd += ["--figure", figure, "--threads", str(threads)] + (["--quick"] if quick else [])
    preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    t = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout, preexec_fn=preexec
        )
        result = parse_child_output(proc.stdout, proc.stderr, proc.returncode)
        if not result.get("ok") and "stderr_tail" not in result:
            result["stderr_tail"] = proc.stderr[-3000:]
    except subprocess.TimeoutExpired:
        result = {"ok": False, "error": f"timeout after {timeout:.0f} s"}
    result.update(engine=engine, workload=workload, figure=figure, process_wall_s=time.perf_counter() - t)
    return result


def progress_line(r: dict[str, Any]) -> str:
    head = f"[repeat {r['repeat'] + 1}] {r['workload']:<10} {r['figure']:<7} {r['engine']:<9}"
    if not r.get("ok"):
        return f"{head} failed: {r.get('error')}"
    bits = []
    if "first_epoch_s" in r:
        bits.append(f"first epoch {r['first_epoch_s']:.2f} s ({r.get('cache_state')})")
    if "train_samples_per_s" in r:
        bits.append(f"{r['train_samples_per_s']:.0f} samples/s")
    if "latency_b1_s" in r:
        bits.append(f"b1 {r['latency_b1_s'] * 1e6:.0f} us [{r['predict_b1_best']}]")
        bits.append(f"b1024 {r['predict_b1024_samples_per_s']:.0f} samples/s")
    return f"{head} {', '.join(bits)}  ({r['process_wall_s']:.1f} s)"


def has_disk_cache(engine: str, jax_cache: bool) -> bool:
    return engine == "kgraph" or (engine == "keras_jax" and jax_cache)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now()
    cpus = pinned_cpus(args.threads, not args.no_pin)
    meta: dict[str, Any] = {
        "timestamp": started.isoformat(timespec="seconds"),
        "argv": sys.argv[1:] if argv is None else argv,
        "engines": args.engines,
        "figures": args.figures,
        "repeats": args.repeats,
        "threads": args.threads,
        "pinned_cpus": cpus,
        "quick": args.quick,
        "jax_cache": args.jax_cache,
        "thread_env": child_env("keras_jax", args.threads, None),
        "workloads": {},
        **machine_info(),
    }
    meta["thread_env"] = {k: v for k, v in meta["thread_env"].items() if "THREADS" in k or k == "XLA_FLAGS"}
    for w in args.workloads:
        wl = workloads.get(w)
        meta["workloads"][w] = {
            "description": wl.description,
            "batch_size": wl.batch_size,
            "samples": wl.quick_samples if (args.quick and wl.quick_samples) else "all",
            "epochs": f"1 + {wl.epochs(args.quick) - 1}",
            "loss_note": wl.loss_note,
        }
    print(report.render({"meta": meta, "runs": []}).split("\n\n")[0], file=sys.stderr)

    data: dict[str, Any] = {"meta": meta, "gemm": [], "runs": []}
    if not args.no_gemm:
        for t in GEMM_THREADS:
            g = run_child(
                "none",
                "none",
                "gemm",
                threads=t,
                quick=args.quick,
                env=child_env("none", t, None),
                cpus=pinned_cpus(t, not args.no_pin),
                timeout=args.timeout,
            )
            data["gemm"].append(g)
            best = {k: round(v["gflops_best"], 1) for k, v in g.get("gemm", {}).items()}
            print(f"[gemm, {t} thread(s)] {best or g.get('error')}", file=sys.stderr)

    failed_before: dict[tuple[str, str, str], str] = {}
    order = 0
    for rep in range(args.repeats):
        cache_dirs = {
            (e, w): tempfile.mkdtemp(prefix=f"kgraph_bench_{e}_{w}_")
            for e in args.engines
            for w in args.workloads
            if has_disk_cache(e, args.jax_cache)
        }
        cold_ok: set[tuple[str, str]] = set()
        try:
            for w in args.workloads:
                for fig in args.figures:
                    for e in args.engines:
                        key = (e, w, fig)
                        if key in failed_before:
                            r = {
                                "ok": False,
                                "error": failed_before[key],
                                "skipped": "failed in an earlier repeat",
                            }
                            r.update(engine=e, workload=w, figure=fig, repeat=rep, order=None)
                            data["runs"].append(r)
                            continue
                        cache = cache_dirs.get((e, w))
                        if cache is None:
                            state = "none"
                        elif fig == "cold":
                            state = "cold"
                        else:
                            state = "warm" if (e, w) in cold_ok else "cold"
                        r = run_child(
                            e,
                            w,
                            fig,
                            threads=args.threads,
                            quick=args.quick,
                            env=child_env(e, args.threads, cache, args.jax_cache),
                            cpus=cpus,
                            timeout=args.timeout,
                        )
                        r.update(repeat=rep, order=order, cache_state=state)
                        order += 1
                        if fig == "cold" and r.get("ok"):
                            cold_ok.add((e, w))
                        if not r.get("ok"):
                            failed_before[key] = r.get("error", "?")
                        data["runs"].append(r)
                        print(progress_line(r), file=sys.stderr)
        finally:
            if not args.keep_cache:
                for d in cache_dirs.values():
                    shutil.rmtree(d, ignore_errors=True)

    meta["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    meta["loadavg_end"] = list(os.getloadavg())
    data["summary"] = report.summarize(data["runs"], args.engines, args.workloads)
    text = report.render(data)
    out = (
        Path(args.out)
        if args.out
        else RESULTS_DIR / (started.strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "") + ".json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1))
    out.with_suffix(".txt").write_text(text + "\n")
    print()
    print(text)
    print(f"\nraw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
