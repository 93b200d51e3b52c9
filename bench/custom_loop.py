"""The custom training loop (GradientTape) against fit(), on the same model: `python -m bench.custom_loop`.

For each workload, one process builds three identical models, then alternates `--rounds` times: a fit() epoch
of `--steps` batches on the first, the same batches through Keras's overview loop (`with GradientTape()`,
model, loss, `tape.gradient`, `optimizer.apply_gradients`) on the second, and through the same step decorated
with `@kgraph.function` on the third. It prints the median time per step of each and the median per-round
ratios to fit (the issue's target is at most 1.5). Timings alternate in one process so that machine noise
hits all alike; repeat on a quiet machine before quoting them.
"""

from __future__ import annotations

import argparse
import statistics
import time


def measure(name: str, steps: int, rounds: int) -> dict:
    import kgraph
    from bench.workloads import get as get_workload

    workload = get_workload(name)
    x, y = workload.load(quick=True)
    batch = workload.batch_size
    x, y = x[: steps * batch], y[: steps * batch]
    fitted, looped, stepped = (workload.build_keras(kgraph) for _ in range(3))
    loss_fn = kgraph.losses.CategoricalCrossentropy()

    def step(model, x_batch, y_batch):
        with kgraph.GradientTape() as tape:
            predictions = model(x_batch, training=True)
            loss = loss_fn(y_batch, predictions)
        grads = tape.gradient(loss, model.trainable_weights)
        model.optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
        return loss

    compiled_step = kgraph.function(step)

    def loop():
        for i in range(0, len(x), batch):
            step(looped, x[i : i + batch], y[i : i + batch])

    def compiled_loop():
        for i in range(0, len(x), batch):
            compiled_step(stepped, x[i : i + batch], y[i : i + batch])

    def fit():
        fitted.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)

    runs = {"fit": fit, "loop": loop, "function": compiled_loop}
    for run in runs.values():
        run()  # compile
    times = {label: [] for label in runs}
    for _ in range(rounds):
        for label, run in runs.items():
            start = time.perf_counter()
            run()
            times[label].append((time.perf_counter() - start) / steps)
    result = {"workload": name}
    for label in runs:
        result[f"{label}_us"] = statistics.median(times[label]) * 1e6
        if label != "fit":
            ratios = [b / a for a, b in zip(times["fit"], times[label], strict=True)]
            result[f"{label}_ratio"] = (statistics.median(ratios), min(ratios), max(ratios))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="digits_mlp,mnist_mlp")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    print(
        f"{'workload':<12} {'fit step':>10} {'tape loop step':>15} {'loop / fit':>11} {'@function step':>15} "
        f"{'function / fit':>15}  (per-round ranges)"
    )
    for name in args.workloads.split(","):
        r = measure(name, args.steps, args.rounds)
        (loop, loop_lo, loop_hi), (fn, fn_lo, fn_hi) = r["loop_ratio"], r["function_ratio"]
        print(
            f"{r['workload']:<12} {r['fit_us']:>8.1f}us {r['loop_us']:>13.1f}us {loop:>10.2f}x "
            f"{r['function_us']:>13.1f}us {fn:>14.2f}x"
            f"  ({loop_lo:.2f}..{loop_hi:.2f}, {fn_lo:.2f}..{fn_hi:.2f})"
        )


if __name__ == "__main__":
    main()
