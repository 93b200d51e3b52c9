"""The CPU kernels of the window ops against their numpy definitions, over geometries that exercise each
branch: rows of taps inside the image, rows cut by the padding, padded rows, strides, dilation, 1-D."""

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
