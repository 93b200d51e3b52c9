"""Compiled programs run with denormal floats flushed to zero (as XLA runs Keras's CPU code) on every thread
they use, and leave each thread's float mode as they found it (codegen/intrinsics.py, decorators.py)."""

import numba
import numpy as np
from numba import njit, prange

import kgraph as keras
from kgraph.codegen.intrinsics import flush_denormals, restore_float_mode

DENORMAL = np.float32(1e-39)  # below float32's smallest normal number, 1.2e-38


@njit
def _scaled(values, factor, flush):
    out = np.empty_like(values)
    mode = flush_denormals() if flush else np.int32(0)
    for i in range(values.size):
        out[i] = values[i] * factor
    if flush:
        restore_float_mode(mode)
    return out


def test_flushing_treats_denormals_as_zero_and_restores_the_mode():
    values = np.array([DENORMAL, 2.0], np.float32)
    np.testing.assert_array_equal(_scaled(values, np.float32(0.5), False), [DENORMAL * np.float32(0.5), 1.0])
    np.testing.assert_array_equal(_scaled(values, np.float32(0.5), True), [0.0, 1.0])
    np.testing.assert_array_equal(_scaled(values, np.float32(0.5), False), [DENORMAL * np.float32(0.5), 1.0])
    assert DENORMAL * np.float32(0.5) > 0  # numpy, on this thread, still computes denormals


DEFAULT_MODE = 0x1F80  # MXCSR at a process's start: every exception masked, denormals computed


@njit(parallel=True)
def _reset_every_thread(blocks):
    """Sets each Numba thread's float mode to the default (threads started inside a program inherited its
    flushing mode from the thread that started them)."""
    for _ in prange(blocks):
        restore_float_mode(DEFAULT_MODE)


def test_programs_flush_denormals_on_every_thread():
    """Denormal weights read as zero in every row, the rows each Numba thread multiplies too (a product of
    1024 x 256 x 256 splits across threads), and the caller's mode is back afterwards."""
    _reset_every_thread(4 * numba.get_num_threads())
    model = keras.Sequential(
        [
            keras.Input((256,)),
            keras.layers.Dense(256, use_bias=False, kernel_initializer=keras.initializers.Constant(DENORMAL)),
        ]
    )
    out = model.predict(np.ones((1024, 256), np.float32), batch_size=1024, verbose=0)
    np.testing.assert_array_equal(out, np.zeros_like(out))
    assert DENORMAL * np.float32(0.5) > 0
