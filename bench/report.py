"""Summaries and the text table, from the raw child results saved by ``bench.run``.

python -m bench.report bench/results/<run>.json     # re-print the table of a saved run
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.engines import BASELINES


@dataclass(frozen=True)
class Metric:
    key: str  # name in the summary
    figure: str  # child figure it comes from
    field: str  # field of that child's result
    label: str
    unit: str  # "s", "us", "per_s", "mib", "x", ""
    higher_is_better: bool | None  # None: informational, no ratio
    cache_states: tuple[str, ...] | None = None  # keep only child results whose cache_state is one of these


METRICS: tuple[Metric, ...] = (
    Metric(
        "train_samples_per_s",
        "train",
        "train_samples_per_s",
        "train, steady state (samples/s)",
        "per_s",
        True,
    ),
    Metric("first_epoch_cold_s", "cold", "first_epoch_s", "first epoch, cold cache (s)", "s", False),
    Metric("build_cold_s", "cold", "build_s", "  of which model build + compile() (s)", "s", None),
    Metric(
        "first_epoch_warm_s",
        "train",
        "first_epoch_s",
        "first epoch, warm cache (s)",
        "s",
        False,
        cache_states=("warm", "none"),
    ),
    Metric("latency_b1_s", "predict", "latency_b1_s", "predict latency, batch 1 (median)", "us", False),
    Metric(
        "predict_b1024_samples_per_s",
        "predict",
        "predict_b1024_samples_per_s",
        "predict, batch 1024 (samples/s)",
        "per_s",
        True,
    ),
    Metric("peak_rss_mib", "train", "peak_rss_mib", "peak RSS of train process (MiB)", "mib", False),
    Metric(
        "peak_rss_over_baseline_mib",
        "train",
        "peak_rss_over_baseline_mib",
        "  of which above imports + data (MiB)",
        "mib",
        False,
    ),
    Metric("import_s", "train", "import_s", "import time (s)", "s", None),
    Metric("train_cpu_per_wall", "train", "train_cpu_per_wall", "cores busy in steady training", "x", None),
    Metric("final_loss", "train", "final_loss", "loss after last epoch", "", None),
)
BEST_PATH_FIELDS = {"latency_b1_s": "predict_b1_best", "predict_b1024_samples_per_s": "predict_b1024_best"}
PATH_LABELS = {
    "predict": "predict(x)",
    "predict_on_batch": "predict_on_batch(x)",
    "call": "model(x)",
    "no_grad": "no_grad model(x)",
}
FAIL_WIDTH = 48


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def summarize(runs: list[dict[str, Any]], engines: list[str], workloads: list[str]) -> dict[str, Any]:
    """{workload: {engine: {metric_key: {median, min, max, n, failed, errors, best_path}}}}."""
    out: dict[str, Any] = {}
    for w in workloads:
        out[w] = {}
        for e in engines:
            cell: dict[str, Any] = {}
            for m in METRICS:
                rs = [
                    r
                    for r in runs
                    if r.get("engine") == e and r.get("workload") == w and r["figure"] == m.figure
                ]
                errors = [r["error"] for r in rs if not r.get("ok")]
                if m.cache_states is not None:
                    rs = [r for r in rs if r.get("cache_state") in m.cache_states]
                values = [r[m.field] for r in rs if r.get("ok") and r.get(m.field) is not None]
                entry: dict[str, Any] = {"n": len(values), "failed": len(errors)}
                if errors:
                    entry["errors"] = sorted(set(errors))
                if values:
                    entry.update(median=_median(values), min=min(values), max=max(values))
                if m.key in BEST_PATH_FIELDS:
                    paths = Counter(r[BEST_PATH_FIELDS[m.key]] for r in rs if r.get("ok"))
                    if paths:
                        entry["best_path"] = paths.most_common(1)[0][0]
                    batch = "b1" if m.key == "latency_b1_s" else "b1024"
                    entry["paths"] = _path_medians(rs, f"predict_{batch}", m.key)
                cell[m.key] = entry
            reports = [
                r["memory_report"]
                for r in runs
                if r.get("engine") == e and r.get("workload") == w and "memory_report" in r
            ]
            if reports:
                cell["memory_report"] = reports[-1]
            out[w][e] = cell
    return out


def _path_medians(rs: list[dict[str, Any]], field: str, key: str) -> dict[str, Any]:
    per: dict[str, list[float]] = {}
    errs: dict[str, str] = {}
    for r in rs:
        for path, stats in (r.get(field) or {}).items():
            if "error" in stats:
                errs[path] = stats["error"]
            else:
                v = stats["median_s"] if key == "latency_b1_s" else stats["samples_per_s"]
                per.setdefault(path, []).append(v)
    out: dict[str, Any] = {p: {"median": _median(v)} for p, v in per.items()}
    for p, e in errs.items():
        out.setdefault(p, {"error": e})
    return out


# --------------------------------------------------------------------------- formatting


def fmt_value(v: float, unit: str) -> str:
    if unit == "s":
        return f"{v:.3g} s" if v >= 0.01 else f"{v * 1e3:.3g} ms"
    if unit == "us":
        return f"{v * 1e6:.3g} us" if v < 1e-3 else f"{v * 1e3:.3g} ms"
    if unit == "per_s":
        if v >= 1e6:
            return f"{v / 1e6:.3g}M/s"
        if v >= 1e3:
            return f"{v / 1e3:.3g}k/s"
        return f"{v:.3g}/s"
    if unit == "mib":
        return f"{v:.0f} MiB"
    if unit == "x":
        return f"{v:.2f}"
    return f"{v:.4g}"


def fmt_entry(entry: dict[str, Any] | None, unit: str) -> str:
    if not entry:
        return "-"
    if "median" not in entry:
        if entry.get("failed"):
            msg = entry["errors"][0]
            text = f"failed: {msg}"
            return text if len(text) <= FAIL_WIDTH else text[: FAIL_WIDTH - 3] + "..."
        return "-"
    text = fmt_value(entry["median"], unit)
    if entry["n"] > 1 and entry["median"]:
        spread = (entry["max"] - entry["min"]) / 2 / abs(entry["median"]) * 100
        text += f" ±{spread:.0f}%"
    if entry.get("failed"):
        text += f" ({entry['failed']} failed)"
    return text


def ratio(k: dict[str, Any] | None, o: dict[str, Any] | None, higher_is_better: bool | None) -> str:
    """> 1 means kgraph is better: kgraph/other for throughputs, other/kgraph for times and memory."""
    if higher_is_better is None or not k or not o or "median" not in k or "median" not in o:
        return ""
    kv, ov = k["median"], o["median"]
    if not kv or not ov:
        return ""
    return f"{(kv / ov if higher_is_better else ov / kv):.2f}x"


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(header)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
    return lines


def render(data: dict[str, Any]) -> str:
    meta = data["meta"]
    engines: list[str] = meta["engines"]
    workloads_meta: dict[str, Any] = meta["workloads"]
    summary = summarize(data["runs"], engines, list(workloads_meta))
    lines: list[str] = []
    threads = meta["threads"]
    pin = (
        f"children pinned to CPUs {meta['pinned_cpus']}" if meta.get("pinned_cpus") else "children not pinned"
    )
    lines.append(
        f"kgraph benchmark  {meta['timestamp']}  threads={threads} ({pin})  repeats={meta['repeats']}"
        + ("  QUICK RUN (tiny sizes, not a measurement)" if meta.get("quick") else "")
    )
    lines.append(
        f"machine: {meta.get('cpu_model', '?')}, {meta.get('n_cpus', '?')} CPUs, "
        f"load average at start {meta.get('loadavg_start', ['?'])[0]:.2f}; git {meta.get('git', '?')}"
    )
    lines.append(
        "Values: median over repeats (± half the min-max spread). "
        "Ratio columns: > 1 means kgraph is better "
        "(throughput: kgraph / other; times, latency, memory: other / kgraph)."
    )
    lines.append(
        "First epoch = model build + compile() + first fit epoch, imports and data excluded. "
        "'warm' for engines without an on-disk cache is just a second cold first epoch."
    )
    lines.append("")

    gemm = data.get("gemm") or []
    if gemm:
        lines += render_gemm(gemm)
        lines.append("")

    failures: dict[tuple[str, str, str, str], None] = {}  # ordered set
    for w, wmeta in workloads_meta.items():
        lines.append(
            f"== {w}: {wmeta['description']}; {wmeta['samples']} samples, {wmeta['epochs']} epochs in 'train'"
        )
        header = ["figure", *engines] + [
            f"kgraph vs {b}" for b in BASELINES if b in engines and "kgraph" in engines
        ]
        rows: list[list[str]] = []
        for m in METRICS:
            row = [m.label]
            for e in engines:
                entry = summary[w][e].get(m.key)
                cell = fmt_entry(entry, m.unit)
                if entry and entry.get("best_path") and "median" in entry and len(entry.get("paths", {})) > 1:
                    cell += f" [{PATH_LABELS.get(entry['best_path'], entry['best_path'])}]"
                row.append(cell)
                for err in (entry or {}).get("errors", []):
                    failures[(w, e, m.figure, err)] = None
            for b in BASELINES:
                if b in engines and "kgraph" in engines:
                    row.append(
                        ratio(summary[w]["kgraph"].get(m.key), summary[w][b].get(m.key), m.higher_is_better)
                    )
            rows.append(row)
            if m.key in BEST_PATH_FIELDS:
                rows += _path_rows(summary[w], engines, m)
        lines += _table(rows, header)
        for e in engines:
            report = summary[w][e].get("memory_report")
            if report is not None:
                lines.append(f"{e} memory_report: {json.dumps(report)[:2000]}")
        lines.append("")
    if failures:
        lines.append("Failures (first line of each distinct error):")
        fig_order = {f: i for i, f in enumerate(("gemm", "cold", "train", "predict"))}
        keys = sorted(
            failures, key=lambda k: (list(workloads_meta).index(k[0]), k[1], fig_order.get(k[2], 9))
        )
        lines += [f"  {w} / {e} / {fig}: {err}" for w, e, fig, err in keys]
    return "\n".join(lines)


def _path_rows(cells: dict[str, Any], engines: list[str], m: Metric) -> list[list[str]]:
    paths: list[str] = []
    for e in engines:
        for p in (cells[e].get(m.key) or {}).get("paths", {}):
            if p not in paths:
                paths.append(p)
    if sum(len((cells[e].get(m.key) or {}).get("paths", {})) for e in engines) <= 1:
        return []
    rows = []
    for p in paths:
        row = [f"  via {PATH_LABELS.get(p, p)}"]
        for e in engines:
            stats = (cells[e].get(m.key) or {}).get("paths", {}).get(p)
            if stats is None:
                row.append("")
            elif "error" in stats:
                row.append(("failed: " + stats["error"])[:FAIL_WIDTH])
            else:
                row.append(fmt_value(stats["median"], m.unit))
        rows.append(row + [""] * (sum(b in engines for b in BASELINES) if "kgraph" in engines else 0))
    return rows


def render_gemm(gemm: list[dict[str, Any]]) -> list[str]:
    ok = [g for g in gemm if g.get("ok")]
    lines = ["Machine float32 GEMM limit (GFLOP/s, best call; numpy's BLAS, torch.mm for reference):"]
    if not ok:
        return lines + [f"  failed: {g.get('error')}" for g in gemm]
    threads = [g["threads"] for g in ok]
    keys = list(ok[0]["gemm"])
    rows = [[k, *(f"{g['gemm'].get(k, {}).get('gflops_best', float('nan')):.1f}" for g in ok)] for k in keys]
    lines += ["  " + line for line in _table(rows, ["m x k x n", *(f"{t} thread(s)" for t in threads)])]
    blas = {b.get("internal_api"): b.get("version") for g in ok for b in g.get("blas", [])}
    if blas:
        lines.append("  BLAS/OpenMP libraries loaded: " + ", ".join(f"{k} {v}" for k, v in blas.items()))
    return lines


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bench.report bench/results/<run>.json", file=sys.stderr)
        return 2
    with open(args[0]) as f:
        print(render(json.load(f)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
