"""CUDA kernels on Numba's simulator (`NUMBA_ENABLE_CUDASIM=1`), against the numpy reference backend.

Not collected by pytest's default pattern: `test_cuda_sim.py` runs this file in a subprocess with the
simulator switched on (it must be on before `numba.cuda` is first imported). Shapes are tiny: every
simulated thread is a Python thread (blocks here have 32 to 64 of them).
"""

import os
import sys
import threading

import numpy as np
import pytest
from numba.core import types
from numba.cuda.simulator import kernel, kernelapi
from numba.np import numpy_support

import kgraph
from kgraph import config, ops
from kgraph.testing import run_traced
from kgraph.variables import Variable

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run through tests/codegen/test_cuda_sim.py"


class _BlockAborted(RuntimeError):
    """Raised in the threads of a block waiting at a barrier when another of its threads failed."""


class _Barrier:
    """`syncthreads` for one simulated block: releases when every thread still running has arrived (a thread
    that has returned no longer counts, as the simulator's own rule has it). It replaces the simulator's
    main thread polling every thread's flag while holding the GIL, which took most of this file's time."""

    def __init__(self, parties):
        self.condition = threading.Condition()
        self.running, self.arrived, self.generation, self.aborted = parties, 0, 0, False

    def _release_if_all_arrived(self):
        if self.arrived and self.arrived == self.running:
            self.arrived, self.generation = 0, self.generation + 1
            self.condition.notify_all()

    def wait(self):
        with self.condition:
            generation = self.generation
            self.arrived += 1
            self._release_if_all_arrived()
            while generation == self.generation and not self.aborted:
                self.condition.wait()
            if self.aborted:
                raise _BlockAborted("another thread of the block failed")

    def leave(self, failed):
        with self.condition:
            self.running -= 1
            self.aborted = self.aborted or failed
            self._release_if_all_arrived()
            self.condition.notify_all()


def _run_block(self, grid_point, *args):
    barrier = _Barrier(int(np.prod(self._block_dim)))
    threads = []
    for block_point in np.ndindex(*self._block_dim):
        thread = kernel.BlockThread(lambda: self._f(*args), self, grid_point, block_point, self._debug)
        thread.barrier = barrier
        threads.append(thread)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The simulator re-raises a thread's error as the same type with its thread's position in the message.
    failures = [t.exception for t in threads if t.exception and not isinstance(t.exception[0], _BlockAborted)]
    if failures:
        raise failures[0][0].with_traceback(failures[0][1])


def _run_thread(self):
    try:
        _simulated_thread_run(self)
    finally:
        self.barrier.leave(failed=self.exception is not None)


_simulated_thread_run = kernel.BlockThread.run
kernel.BlockThread.run = _run_thread
kernel.BlockThread.syncthreads = lambda self: self.barrier.wait()
kernel.BlockManager.run = _run_block


def _shared_array(self, shape, dtype, alignment=None):
    """numba-cuda's simulated `cuda.shared.array`, keyed as there by the calling line, but created under a
    lock: the simulator's own version checks for the array and creates it without one, so two threads
    switched in between got arrays of their own (seen here as garbage sums)."""
    if shape == 0 or alignment is not None:
        return _simulated_shared_array(self, shape, dtype, alignment)
    caller = sys._getframe(1)
    key = (caller.f_code.co_filename, caller.f_lineno)
    with _shared_lock:
        if key not in self._allocations:
            numpy_dtype = numpy_support.as_dtype(dtype) if isinstance(dtype, types.Type) else dtype
            self._allocations[key] = np.empty(shape, numpy_dtype)
        return self._allocations[key]


_shared_lock = threading.Lock()
_simulated_shared_array = kernelapi.FakeCUDAShared.array
kernelapi.FakeCUDAShared.array = _shared_array

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 5)).astype(np.float32)
W = RNG.normal(size=(5, 4)).astype(np.float32)


def _same(fn, *arrays, batch_size=None, atol=1e-5):
    ref = run_traced(fn, *arrays, batch_size=batch_size)
    got = run_traced(fn, *arrays, backend="cuda", batch_size=batch_size)
    ref, got = (ref, got) if isinstance(ref, tuple) else ((ref,), (got,))
    for r, g in zip(ref, got, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=atol)


CASES = {
    "elementwise chain": lambda x: ops.where(x > 0, ops.exp(-x) * 2.0, ops.tanh(x)) + 1.0,
    "row reductions (softmax)": lambda x: ops.softmax(x),
    "row argmax": lambda x: ops.argmax(x, axis=-1),
    "argmax and argmin across rows": lambda x: (ops.argmax(x, axis=0), ops.argmin(ops.sum(x, -1), axis=0)),
    "argmax over a unit axis": lambda x: ops.argmax(ops.expand_dims(x, -1), axis=-1) + 1.0,
    "column reduction and a post column value": lambda x: ops.sum(x * x, axis=0) * 0.5 + 1.0,
    "whole reduction": lambda x: ops.mean(ops.square(x)),
    "max over rows and columns": lambda x: (ops.max(x, axis=0), ops.min(x, axis=-1)),
    "gemm with a fused epilogue": lambda x: ops.relu(ops.matmul(x, ops.convert_to_tensor(W)) + 0.5),
    "gemm of a transposed operand": lambda x: ops.matmul(ops.transpose(x), x),
    "gemm with a reduction epilogue": lambda x: ops.sum(ops.matmul(x, ops.convert_to_tensor(W)), axis=0),
    "concat and slice": lambda x: ops.concatenate([x, x[:, 1:3] * 2.0], axis=-1),
    "transpose copy": lambda x: ops.transpose(ops.reshape(x, (-1, 5, 1)), (0, 2, 1)) + 1.0,
    "batch matmul and its transposes": lambda x: _batch_products(ops.reshape(x, (-1, 5, 1))),
}


def _batch_products(r):
    """Stacks of matrices multiplied pairwise, in every transpose form (those the gradients use)."""
    from kgraph.ir.builder import emit

    outer = ops.matmul(r, ops.transpose(r, (0, 2, 1)))  # (n, 5, 5)
    return (
        outer,
        emit("batch_matmul", r, outer, transpose_a=True),
        emit("batch_matmul", outer, r, transpose_b=False)
        + emit("batch_matmul", outer, outer, transpose_b=True)[..., :1],
        emit("batch_matmul", r, outer, transpose_a=True, transpose_b=True),
    )


@pytest.mark.parametrize("name", list(CASES))
def test_kernel_matches_the_reference(name):
    _same(CASES[name], X)


def test_partial_last_batch():
    _same(lambda x: ops.softmax(x) * 3.0, X, batch_size=4)


def test_gemm_split_along_a_long_k():
    """A weight gradient's shape: a tiny product over many rows splits K across blocks (atomics)."""
    tall = RNG.normal(size=(1100, 3)).astype(np.float32)
    _same(lambda x: ops.matmul(ops.transpose(x), x) * 0.5, tall, atol=1e-3)


def test_nd_broadcast():
    a = RNG.normal(size=(3, 2, 1)).astype(np.float32)
    _same(lambda x: ops.reshape(x, (-1, 2, 1)) + ops.convert_to_tensor(np.ones((1, 3), np.float32)), a)


def test_take_and_its_gradient():
    table = RNG.normal(size=(7, 3)).astype(np.float32)
    idx = np.array([[0.0], [6.0], [2.0], [2.0], [9.0]], np.float32)  # 9 clamps to the last row

    def fn(i):
        t = ops.convert_to_tensor(table)
        rows = ops.take(t, ops.reshape(i, (-1,)), axis=0)
        return rows * 2.0

    _same(fn, idx)
    from kgraph.ir.builder import emit

    _same(lambda v, i: emit("scatter_add", v, ops.reshape(i, (-1,)), rows=7), X[:5, :3], idx)


def test_counter_and_random_stream():
    """A scalar variable's `+= 1` is stored once, after every block read it; dropout-style random numbers
    fall in [0, 1) and differ between elements."""
    counter = Variable(np.float32(3.0), name="counter")

    def fn(x):
        counter.assign(counter + 1.0)
        return ops.random_uniform((ops.shape(x)[0], 5)) + x * 0.0

    got = run_traced(fn, X, backend="cuda")
    assert float(counter.numpy()) == 4.0
    assert got.min() >= 0.0 and got.max() < 1.0 and len(np.unique(got)) > 20


def _dense_model():
    kgraph.utils.set_random_seed(3)
    model = kgraph.Sequential(
        [
            kgraph.Input(shape=(5,)),
            kgraph.layers.Dense(4, activation="relu"),
            kgraph.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=kgraph.optimizers.Adam(0.05), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def test_dense_model_trains_to_the_same_weights_as_the_reference():
    x = RNG.random((10, 5), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 10)]
    results = {}
    for backend in ("numpy", "cuda"):
        config.set_backend(backend)
        model = _dense_model()
        history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        results[backend] = (model.get_weights(), history.history, model.predict(x, verbose=0))
    for a, b in zip(results["numpy"][0], results["cuda"][0], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    for key, values in results["numpy"][1].items():
        np.testing.assert_allclose(results["cuda"][1][key], values, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(results["cuda"][2], results["numpy"][2], rtol=1e-4, atol=1e-6)


def _train_in_custom_loops(model, x, y) -> list[float]:
    """Two steps of a plain tape loop, then two of a `kgraph.function` step; returns the latter's losses."""
    optimizer, loss_fn = kgraph.optimizers.Adam(0.05), kgraph.losses.CategoricalCrossentropy()

    def step(x, y):
        with kgraph.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        gradients = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(gradients, model.trainable_weights, strict=True))
        return loss

    for _ in range(2):
        step(x, y)
    compiled = kgraph.function(step)
    return [float(compiled(x, y)) for _ in range(2)]


def test_custom_loops_run_on_the_gpu_as_the_reference():
    """Tape programs (a gradient program, its update) share the model's device store; a host-side
    `set_weights` between programs goes up before the next one reads the weights."""
    x = RNG.random((6, 5), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 6)]
    results = {}
    for backend in ("numpy", "cuda"):
        config.set_backend(backend)
        model = _dense_model()
        start = model.get_weights()
        losses = _train_in_custom_loops(model, x, y)
        trained = model.get_weights()
        model.set_weights(start)
        results[backend] = (trained, losses, model.predict(x, verbose=0))
    assert not np.allclose(results["numpy"][0][0], start[0])
    for a, b in zip(results["numpy"][0], results["cuda"][0], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(results["cuda"][1], results["numpy"][1], rtol=1e-4)
    np.testing.assert_allclose(results["cuda"][2], results["numpy"][2], rtol=1e-4, atol=1e-6)


def _train_on_both(build, x, y, epochs=1):
    results = {}
    for backend in ("numpy", "cuda"):
        config.set_backend(backend)
        kgraph.utils.set_random_seed(5)
        model = build()
        model.fit(x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0)
        results[backend] = (model.get_weights(), model.predict(x, verbose=0))
    for a, b in zip(results["numpy"][0], results["cuda"][0], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(results["cuda"][1], results["numpy"][1], rtol=1e-4, atol=1e-5)


def test_conv_and_pooling_model_trains_as_the_reference():
    """patches (im2col), patches_grad (col2im), max and average pooling with their gradients."""
    layers = kgraph.layers

    def build():
        model = kgraph.Sequential(
            [
                kgraph.Input(shape=(4, 4, 1)),
                layers.Conv2D(2, (2, 2), padding="same", activation="relu"),
                layers.MaxPooling2D((2, 2)),
                layers.AveragePooling2D((2, 2), strides=(1, 1), padding="same"),
                layers.Flatten(),
                layers.Dense(3, activation="softmax"),
            ]
        )
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        return model

    x = RNG.random((4, 4, 4, 1), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 4)]
    _train_on_both(build, x, y)


@pytest.mark.parametrize(
    "make",
    [
        lambda layers: layers.LSTM(3, return_sequences=True),
        lambda layers: layers.GRU(3, go_backwards=True),
        lambda layers: layers.GRU(3, reset_after=False, activation="relu"),
    ],
    ids=["lstm", "gru_backwards", "gru_reset_before"],
)
def test_recurrent_model_trains_as_the_reference(make):
    """The time loop in one launch per scan (forward, backward walk, kernel gradient, output copy)."""
    layers = kgraph.layers

    def build():
        model = kgraph.Sequential(
            [
                kgraph.Input(shape=(3, 2)),
                make(layers),
                layers.Flatten(),
                layers.Dense(2, activation="softmax"),
            ]
        )
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        return model

    x = RNG.random((4, 3, 2), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[RNG.integers(0, 2, 4)]
    _train_on_both(build, x, y)


def test_recurrent_model_in_custom_loops_as_the_reference():
    """A tape program knows its batch from its shapes (its `n` is one row): the scan kernels must use it."""
    x = RNG.random((4, 3, 2), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[RNG.integers(0, 2, 4)]
    trained = {}
    for backend in ("numpy", "cuda"):
        config.set_backend(backend)
        kgraph.utils.set_random_seed(5)
        model = kgraph.Sequential(
            [kgraph.Input(shape=(3, 2)), kgraph.layers.LSTM(3), kgraph.layers.Dense(2, activation="softmax")]
        )
        trained[backend] = (_train_in_custom_loops(model, x, y), model.get_weights())
    np.testing.assert_allclose(trained["cuda"][0], trained["numpy"][0], rtol=1e-4)
    for a, b in zip(trained["numpy"][1], trained["cuda"][1], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
