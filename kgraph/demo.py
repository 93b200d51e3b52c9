"""`python -m kgraph.demo`: trains an MLP on scikit-learn's digits with kgraph and reports what happened.

Prints test accuracy, training throughput, the time to the first compiled step (and whether the kernels came
from the disk cache), the fused kernels and the memory plan.
"""

from __future__ import annotations

import time


def main(epochs: int = 20) -> dict:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    import kgraph as keras

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = keras.utils.to_categorical(digits.target, 10)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)
    keras.utils.set_random_seed(0)

    model = keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )

    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=32, epochs=1, verbose=0)
    first_epoch = time.perf_counter() - start
    cached = model._programs and all(p.from_cache for p in model._programs.values())

    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=32, epochs=epochs - 1, verbose=0)
    seconds = time.perf_counter() - start
    throughput = len(x_train) * (epochs - 1) / seconds

    loss, accuracy = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
    print(
        f"kgraph {keras.__version__} on scikit-learn digits "
        f"({len(x_train)} train / {len(x_test)} test samples)"
    )
    print(
        "  model: Dense 64 relu - Dense 64 relu - Dense 10 softmax, SGD momentum 0.9, batch 32, "
        f"{epochs} epochs"
    )
    print(f"  test accuracy: {accuracy:.4f}   test loss: {loss:.4f}")
    print(f"  training speed: {throughput:,.0f} samples/s (steady state, after the first epoch)")
    print(
        f"  first epoch including compilation: {first_epoch:.2f} s "
        f"({'kernels loaded from the disk cache' if cached else 'cold: kernels compiled and cached'})"
    )
    print(model.explain_fusion().splitlines()[0] if model._programs else "")
    print(model.memory_report())
    return {"accuracy": accuracy, "throughput": throughput, "first_epoch": first_epoch}


if __name__ == "__main__":
    main()
