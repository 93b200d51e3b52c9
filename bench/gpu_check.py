"""Device check for the CUDA backend: correctness against the CPU backend, then speed beside PyTorch eager.

    PYTHONPATH=. python3 bench/gpu_check.py            # on a machine with a GPU (a few minutes at most)
    PYTHONPATH=. python3 bench/gpu_check.py --sim --tiny   # the same path on Numba's CUDA simulator

For each benchmark workload (bench/workloads.py): the same model with the same initial weights trains one
epoch on the CPU backend and on the GPU; the weights and predictions must agree. Then training throughput
(samples/s over steady epochs, data resident on the GPU for both engines) and predict latency at batch 1
(numpy in, numpy out for both), each beside PyTorch eager on the same GPU, with the ratios. Every workload
runs in its own try block, so one failure does not hide the others' figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def say(*parts) -> None:
    print(*parts, flush=True)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", action="store_true", help="run on Numba's CUDA simulator (no GPU needed)")
    parser.add_argument("--tiny", action="store_true", help="a few rows and one timed epoch (for --sim)")
    parser.add_argument("--workloads", default="", help="comma-separated names (default: all)")
    parser.add_argument("--budget", type=float, default=210.0, help="seconds; later workloads are skipped")
    parser.add_argument("--no-custom-loop", action="store_true", help="skip the GradientTape check")
    parser.add_argument("--profile", default="", help="workloads whose batch-1 predict is profiled")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed training seconds per engine")
    return parser.parse_args()


ARGS = parse_args()
if ARGS.sim:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # before numba.cuda is imported anywhere
os.environ.setdefault("KGRAPH_CACHE_DIR", os.path.join(tempfile.gettempdir(), "kgraph_gpu_check_cache"))

import numpy as np  # noqa: E402

import kgraph  # noqa: E402
from bench import workloads as workload_defs  # noqa: E402
from kgraph import config  # noqa: E402


def load_data(workload, tiny: bool):
    try:
        x, y = workload.load(quick=tiny)
    except ImportError as err:  # digits needs scikit-learn: stand in random data of the same shape
        say(f"  ({err}; using random data of the same shape)")
        rng = np.random.default_rng(0)
        x = rng.random((1797, 64), dtype=np.float32)
        y = workload_defs.one_hot(rng.integers(0, workload.n_classes, 1797), workload.n_classes)
    if tiny:
        x, y = x[:40], y[:40]
    return np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.float32)


def build(workload, backend: str, weights=None):
    config.set_backend(backend)
    kgraph.utils.set_random_seed(0) if hasattr(kgraph, "utils") else None
    model = workload.build_keras(kgraph)
    if weights is not None:
        model.set_weights(weights)
    return model


def weight_agreement(start: list, cpu: list, gpu: list) -> tuple[float, float]:
    """(largest relative difference between the CPU's and the GPU's weights, largest move from `start`)."""
    worst = max(float(np.abs(a - b).max() / (np.abs(a).max() + 1e-6)) for a, b in zip(cpu, gpu, strict=True))
    moved = max(float(np.abs(a - b).max()) for a, b in zip(start, cpu, strict=True))
    return worst, moved


def check_correctness(workload, x, y, batch: int) -> None:
    rows = min(len(x), 4 * batch)
    xs, ys = x[:rows], y[:rows]
    cpu = build(workload, "cpu")
    start = [w.copy() for w in cpu.get_weights()]
    t = time.perf_counter()
    cpu.fit(xs, ys, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    cpu_s = time.perf_counter() - t
    gpu = build(workload, "cuda", start)
    t = time.perf_counter()
    gpu.fit(xs, ys, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    gpu_s = time.perf_counter() - t
    worst, moved = weight_agreement(start, cpu.get_weights(), gpu.get_weights())
    p_cpu = cpu.predict(xs, batch_size=batch, verbose=0)
    p_gpu = gpu.predict(xs, batch_size=batch, verbose=0)
    pred_err = float(np.abs(p_cpu - p_gpu).max())
    ok = worst < 1e-3 and pred_err < 1e-3 and moved > 0
    say(
        f"  correctness ({rows} rows, {-(-rows // batch)} steps): weights rel. diff {worst:.2e}, "
        f"predict max diff {pred_err:.2e}, weights moved {moved:.2e} -> {'OK' if ok else 'MISMATCH'} "
        f"(first fit incl. compile: cpu {cpu_s:.1f} s, gpu {gpu_s:.1f} s)"
    )


def check_custom_loop(workload, x, y, batch: int) -> None:
    """Keras's overview loop (GradientTape, apply_gradients) for two batches, then the same step under
    `kgraph.function` for two more, on both backends from the same weights: the weights must agree."""
    steps = min(4, len(x) // batch)
    cpu = build(workload, "cpu")
    start = [w.copy() for w in cpu.get_weights()]
    trained = {}
    for backend in ("cpu", "cuda"):
        model = cpu if backend == "cpu" else build(workload, "cuda", start)
        config.set_backend(backend)
        loss_fn = kgraph.losses.get("binary_crossentropy" if y.shape[1] == 1 else "categorical_crossentropy")

        def step(xb, yb, model=model, loss_fn=loss_fn):
            with kgraph.GradientTape() as tape:
                loss = kgraph.ops.mean(loss_fn(yb, model(xb, training=True)))
            grads = tape.gradient(loss, model.trainable_weights)
            model.optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
            return loss

        compiled = kgraph.function(step)
        t = time.perf_counter()
        for k in range(steps):
            (step if k < 2 else compiled)(x[k * batch : (k + 1) * batch], y[k * batch : (k + 1) * batch])
        trained[backend] = (model.get_weights(), time.perf_counter() - t)
    worst, moved = weight_agreement(start, trained["cpu"][0], trained["cuda"][0])
    ok = worst < 1e-3 and moved > 0
    say(
        f"  custom loop (2 tape steps, 2 kgraph.function steps): weights rel. diff {worst:.2e}, moved "
        f"{moved:.2e} -> {'OK' if ok else 'MISMATCH'} (incl. compile: cpu {trained['cpu'][1]:.1f} s, "
        f"gpu {trained['cuda'][1]:.1f} s)"
    )


def time_kgraph(workload, x, y, batch: int, seconds: float, tiny: bool) -> tuple[float, float]:
    model = build(workload, "cuda")
    t = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    first = time.perf_counter() - t
    t = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    one = time.perf_counter() - t
    epochs = 1 if tiny else max(1, min(50, int(seconds / max(one, 1e-3))))
    t = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
    elapsed = time.perf_counter() - t
    train = epochs * len(x) / elapsed
    say(f"  kgraph cuda: first epoch {first:.2f} s (compiles), then {epochs} epochs: {train:,.0f} samples/s")
    x1 = np.ascontiguousarray(x[:1])
    model.predict(x1, verbose=0)
    latency = median_seconds(lambda: model.predict(x1, verbose=0), 5 if tiny else 200)
    say(f"  kgraph cuda: predict batch 1: {latency * 1e6:,.0f} us")
    if workload.name in ARGS.profile.split(","):
        profile_predict(model, x1)
    return train, latency


def profile_predict(model, x1) -> None:
    """Where a batch-1 predict's time goes on the host: the functions with the most time of their own."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(100):
        model.predict(x1, verbose=0)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(14)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    say("  profile of 100 predict calls (top by own time):")
    for line in lines[-16:]:
        say("    " + line[:160])


def median_seconds(fn, calls: int) -> float:
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def time_torch(workload, x, y, batch: int, seconds: float) -> tuple[float, float] | None:
    try:
        import torch
    except ImportError:
        say("  torch: not installed")
        return None
    if not torch.cuda.is_available():
        say("  torch: no CUDA device")
        return None
    device = torch.device("cuda")
    tm = workload.build_torch(torch)
    module = tm.module.to(device)
    optimizer = type(tm.optimizer)(module.parameters(), **tm.optimizer.defaults)
    binary = getattr(tm, "binary", False)  # one logit and BCE-with-logits, else class indices
    xt = torch.from_numpy(x).to(device)
    yt = torch.from_numpy(y if binary else y.argmax(axis=1)).to(device)

    def epoch():
        order = torch.randperm(len(x), device=device)
        for lo in range(0, len(x), batch):
            idx = order[lo : lo + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = tm.loss_fn(module(xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()

    epoch()
    torch.cuda.synchronize()
    t = time.perf_counter()
    epoch()
    torch.cuda.synchronize()
    one = time.perf_counter() - t
    epochs = max(1, min(50, int(seconds / max(one, 1e-3))))
    t = time.perf_counter()
    for _ in range(epochs):
        epoch()
    torch.cuda.synchronize()
    train = epochs * len(x) / (time.perf_counter() - t)
    say(f"  torch eager: {epochs} epochs: {train:,.0f} samples/s")
    x1 = np.ascontiguousarray(x[:1])
    module.eval()

    def predict():
        with torch.no_grad():
            logits = module(torch.from_numpy(x1).to(device))
            return (torch.sigmoid(logits) if binary else torch.softmax(logits, dim=-1)).cpu().numpy()

    predict()
    latency = median_seconds(predict, 200)
    say(f"  torch eager: predict batch 1: {latency * 1e6:,.0f} us")
    return train, latency


def describe_device() -> None:
    from kgraph.runtime.cuda_program import cuda_unavailable_reason

    reason = cuda_unavailable_reason()
    if reason:
        say(f"CUDA backend unusable: {reason}")
        sys.exit(1)
    from numba import cuda

    name = "simulator" if ARGS.sim else cuda.get_current_device().name
    name = name.decode() if isinstance(name, bytes) else name
    import numba

    say(f"device: {name}; numba {numba.__version__}; numpy {np.__version__}")


def main() -> None:
    began = time.perf_counter()
    describe_device()
    names = [n for n in ARGS.workloads.split(",") if n] or list(workload_defs.WORKLOADS)
    if ARGS.tiny and not ARGS.workloads:
        names = names[:1]
    summary = []
    for name in names:
        if time.perf_counter() - began > ARGS.budget:
            say(f"{name}: skipped (over the {ARGS.budget:.0f} s budget)")
            continue
        workload = workload_defs.WORKLOADS.get(name)
        if workload is None:
            say(f"{name}: unknown workload")
            continue
        say(f"{name}: {workload.description}")
        try:
            batch = 16 if ARGS.tiny else workload.batch_size
            x, y = load_data(workload, ARGS.tiny)
            check_correctness(workload, x, y, batch)
            if not ARGS.no_custom_loop:
                check_custom_loop(workload, x, y, batch)
            ours = time_kgraph(workload, x, y, batch, ARGS.seconds, ARGS.tiny)
            theirs = None if ARGS.sim else time_torch(workload, x, y, batch, ARGS.seconds)
            if theirs:
                train_ratio, latency_ratio = ours[0] / theirs[0], theirs[1] / ours[1]
                line = (
                    f"{name}: train kgraph/torch = {train_ratio:.2f}x, "
                    f"predict-latency torch/kgraph = {latency_ratio:.2f}x (above 1: kgraph faster)"
                )
                say("  " + line)
                summary.append(line)
        except Exception:  # noqa: BLE001 - report and go on with the next workload
            say(f"  {name} FAILED:")
            say(traceback.format_exc())
    say("summary:")
    for line in summary:
        say("  " + line)
    say(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
