"""Merge layers: config round trip, symbolic and eager calls, compiled runs, one training step, gradients,
and parity with Keras 3 (the layer-test steps of kgraph.testing, for layers that take a list of inputs)."""

import numpy as np
import pytest

import kgraph
from kgraph import layers
from kgraph.testing import run_traced
from tests.layers.checks import assert_matches_keras, check_layer_gradients

RNG = np.random.default_rng(0)

# (class name, init kwargs, input shapes without the batch, expected output shape without the batch)
CASES = [
    ("Add", {}, [(4,), (4,), (4,)], (4,)),
    ("Subtract", {}, [(3, 4), (3, 4)], (3, 4)),
    ("Multiply", {}, [(3, 4), (1, 4)], (3, 4)),
    ("Average", {}, [(3, 4), (4,)], (3, 4)),
    ("Maximum", {}, [(5,), (5,), (5,)], (5,)),
    ("Minimum", {}, [(2, 3), (2, 3)], (2, 3)),
    ("Concatenate", {}, [(3, 2), (3, 4)], (3, 6)),
    ("Concatenate", {"axis": 1}, [(2, 4), (3, 4)], (5, 4)),
    ("Concatenate", {"axis": -2}, [(2, 3, 4), (2, 1, 4)], (2, 4, 4)),
    ("Dot", {"axes": 1}, [(4,), (4,)], (1,)),
    ("Dot", {"axes": -1}, [(3, 4), (5, 4)], (3, 5)),
    ("Dot", {"axes": (1, 2)}, [(4, 3), (2, 4)], (3, 2)),
    ("Dot", {"axes": (2, 1), "normalize": True}, [(3, 4), (4,)], (3,)),
]
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


def _inputs(shapes, batch=3):
    return [RNG.normal(size=(batch, *s)).astype(np.float32) for s in shapes]


@pytest.mark.parametrize("name,kwargs,shapes,expected", CASES, ids=IDS)
def test_merge_layer(name, kwargs, shapes, expected):
    cls = getattr(layers, name)
    layer = cls(**kwargs)
    config = layer.get_config()
    assert cls.from_config(config).get_config() | {"name": config["name"]} == config

    symbolic = cls(**kwargs)([layers.Input(s) for s in shapes])
    assert symbolic.shape == (None, *expected)

    xs = _inputs(shapes)
    eager = np.asarray(layer(xs))
    assert eager.shape == (3, *expected)
    for backend in ("numpy", "cpu"):
        traced = run_traced(lambda *t: layer(list(t)), *xs, backend=backend)
        np.testing.assert_allclose(traced, eager, rtol=1e-5, atol=1e-6, err_msg=backend)

    if CASES[[c[0] for c in CASES].index(name)][1] != kwargs:
        return  # one training step per class keeps compile time down
    # One training step of Dense layers feeding the merge: the gradient reaches every branch.
    inputs = [layers.Input(s) for s in shapes]
    dense = [layers.Dense(s[-1]) for s in shapes]
    model = kgraph.Model(inputs, cls(**kwargs)([d(i) for d, i in zip(dense, inputs, strict=True)]))
    model.compile(optimizer="sgd", loss="mse")
    before = [d.get_weights()[0] for d in dense]
    model.fit(xs, RNG.normal(size=eager.shape).astype(np.float32), batch_size=3, verbose=0)
    changed = [not np.allclose(b, d.get_weights()[0]) for b, d in zip(before, dense, strict=True)]
    assert all(changed) or name in ("Maximum", "Minimum"), changed


@pytest.mark.parametrize("name,kwargs,shapes,expected", CASES[1::2], ids=IDS[1::2])
def test_merge_gradients(name, kwargs, shapes, expected):
    xs = [x.astype(np.float64) for x in _inputs(shapes, batch=2)]
    check_layer_gradients(getattr(layers, name)(**kwargs), xs)


@pytest.mark.keras
@pytest.mark.parametrize("name,kwargs,shapes,expected", CASES, ids=IDS)
def test_merge_matches_keras(name, kwargs, shapes, expected):
    keras = pytest.importorskip("keras")
    assert_matches_keras(
        getattr(layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs), _inputs(shapes)
    )


@pytest.mark.parametrize(
    "function,cls",
    [
        ("add", "Add"),
        ("subtract", "Subtract"),
        ("multiply", "Multiply"),
        ("average", "Average"),
        ("maximum", "Maximum"),
        ("minimum", "Minimum"),
        ("concatenate", "Concatenate"),
        ("dot", "Dot"),
    ],
)
def test_functional_forms(function, cls):
    a, b = layers.Input((4,)), layers.Input((4,))
    kwargs = {"axes": 1} if function == "dot" else {}
    out = getattr(layers, function)([a, b], name=f"my_{function}", **kwargs)
    layer = out.node.layer
    assert type(layer).__name__ == cls and layer.name == f"my_{function}"


def test_merge_errors():
    a, b = layers.Input((3,)), layers.Input((4,))
    with pytest.raises(ValueError, match="Inputs have incompatible shapes"):
        layers.Add()([a, b])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.Subtract()([a, a, a])
    with pytest.raises(ValueError, match="matching shapes except for the concatenation axis"):
        layers.Concatenate(axis=1)([layers.Input((2, 3)), layers.Input((2, 4))])
    with pytest.raises(ValueError, match=r"Incompatible input shapes: axis values 3 \(at axis 1\) != 4"):
        layers.Dot(axes=1)([a, b])
    with pytest.raises(ValueError, match="should contain two elements"):
        layers.Dot(axes=(1, 2, 3))
