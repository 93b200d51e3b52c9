"""The CPU kernels of the window ops against their numpy definitions, over geometries that exercise each
branch: rows of taps inside the image, rows cut by the padding, padded rows, strides, dilation, 1-D."""

import functools

import numba
import numpy as np
import pytest

from kgraph.ir import emit
from kgraph.testing import run_traced

GEOMETRIES = [
    # image (without batch), window, strides, dilation, padding
    ((13, 13, 4), (3, 3), (1, 1), (1, 1), ((0, 0), (0, 0))),
    ((7, 6, 3), (3, 2), (2, 2), (1, 1), ((1, 1), (0, 1))),
    ((9, 9, 2), (3, 3), (1, 1), (2, 2), ((2, 2), (2, 2))),
    ((5, 8, 1), (2, 3), (1, 2), (1, 1), ((0, 1), (1, 1))),
    ((9, 3), (3,), (1,), (2,), ((4, 0),)),
]


@pytest.mark.parametrize("image,window,strides,dilation,padding", GEOMETRIES)
def test_cpu_patches_match_numpy(image, window, strides, dilation, padding):
    x = np.random.default_rng(0).normal(size=(2, *image)).astype(np.float32)

    def program(x):
        return emit("patches", x, window=window, strides=strides, dilation=dilation, padding=padding)

    expected = run_traced(program, x, backend="numpy")
    np.testing.assert_array_equal(run_traced(program, x, backend="cpu"), expected)


@pytest.mark.parametrize("op", ["max_pool", "avg_pool"])
@pytest.mark.parametrize("image,window,strides,dilation,padding", GEOMETRIES)
def test_cpu_pooling_matches_numpy(op, image, window, strides, dilation, padding):
    """A NaN in a window comes out as NaN (from max pooling as from JAX's max); a dilated average counts the
    taps it reads."""
    x = np.random.default_rng(0).normal(size=(2, *image)).astype(np.float32)
    x.reshape(-1)[[5, 17]] = np.nan

    def program(x):
        return emit(op, x, window=window, strides=strides, dilation=dilation, padding=padding)

    expected = run_traced(program, x, backend="numpy")
    assert np.isnan(expected).any()
    np.testing.assert_allclose(run_traced(program, x, backend="cpu"), expected, rtol=1e-6, atol=1e-7)


# Windows that never share a pixel: max pooling's gradient writes each pixel once instead of accumulating.
APART = [
    ((8, 8, 3), (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0))),  # tiling the image: nothing to zero
    ((9, 7, 3), (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0))),  # the last row and column in no window
    ((8, 9, 2), (2, 2), (3, 3), (1, 1), ((0, 0), (0, 0))),  # gaps between windows
    ((7, 7, 2), (2, 2), (2, 2), (1, 1), ((1, 0), (1, 0))),  # the first windows half in the padding
]


@pytest.mark.parametrize("image,window,strides,dilation,padding", GEOMETRIES + APART)
def test_cpu_max_pool_gradient_matches_numpy(image, window, strides, dilation, padding):
    """The kernel writes into memory full of NaN, as a reused buffer is: every pixel must be written."""
    from kgraph.codegen.cpu import HEADER
    from kgraph.ir.registry import get_op

    geometry = {"window": window, "strides": strides, "dilation": dilation, "padding": padding}
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, *image)).astype(np.float32)
    pooled = run_traced(lambda x: emit("max_pool", x, **geometry), x, backend="numpy")
    g = rng.normal(size=pooled.shape).astype(np.float32)
    expected = run_traced(lambda x, g: emit("max_pool_grad", x, g, **geometry), x, g, backend="numpy")

    writer = get_op("max_pool_grad").lowerings["cpu"]
    source, shapes = writer("kernel", [(None, *image), (None, *pooled.shape[1:])], (None, *image), geometry)
    namespace = {}
    exec(HEADER.format(title="test", helpers="") + source, namespace)
    x_view, g_view, out_shape = ((3, *shape[1:]) for shape in shapes)
    out = np.full(out_shape, np.nan, np.float32)
    numba.njit(namespace["kernel"])(x.reshape(x_view), g.reshape(g_view), out, 3)
    np.testing.assert_array_equal(out.reshape(expected.shape), expected)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
def test_window_kernels_of_a_splitting_program_run_in_blocks_of_images(monkeypatch):
    """In a program on Numba's threads every window kernel runs its images in blocks, one per thread (7 images
    of 24 x 24 x 20 exceed SPLIT_MIN_ELEMENTS: blocks of 3 and 4 images); the results are numpy's."""
    from kgraph import testing
    from kgraph.codegen import cpu
    from kgraph.ir.registry import get_op
    from kgraph.runtime.program import CompiledProgram

    geometry = {"window": (3, 3), "strides": (2, 2), "dilation": (1, 1), "padding": ((1, 1), (1, 1))}
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 24, 24, 20)).astype(np.float32)
    g = rng.normal(size=(7, 12, 12, 20)).astype(np.float32)
    g_patches = rng.normal(size=(7, 12, 12, 180)).astype(np.float32)

    def program(x, g, g_patches):
        return (
            emit("patches", x, **geometry),
            emit("max_pool", x, **geometry),
            emit("avg_pool", x, **geometry),
            emit("patches_grad", g_patches, spatial=(24, 24), **geometry),
            emit("max_pool_grad", x, g, **geometry),
            emit("avg_pool_grad", g, spatial=(24, 24), **geometry),
        )

    expected = run_traced(program, x, g, g_patches, backend="numpy")
    monkeypatch.setattr(cpu, "gemms_split", lambda graph: True)
    monkeypatch.setattr(testing, "CompiledProgram", functools.partial(CompiledProgram, threads=2))
    for want, got in zip(expected, run_traced(program, x, g, g_patches, backend="cpu"), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    writer = get_op("max_pool").lowerings["cpu"]
    source, _ = writer("k0_max_pool", [(None, 24, 24, 20)], (None, 12, 12, 20), {**geometry, "split": True})
    assert (
        "parallel=True" in source
        and "k0_max_pool_images(view(a0, lo * 11520, (hi - lo, 24, 24, 20))" in source
    )
