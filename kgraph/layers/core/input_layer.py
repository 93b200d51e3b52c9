"""Input and InputLayer: where a model's symbolic values start."""

from __future__ import annotations

from kgraph.layers.keras_tensor import CallNode, KerasTensor
from kgraph.layers.layer import Layer


class InputLayer(Layer):
    """The layer behind `Input`: holds the input's shape (batch dimension first, None when free)."""

    def __init__(
        self,
        shape=None,
        batch_size=None,
        dtype=None,
        sparse=None,
        batch_shape=None,
        name=None,
        input_tensor=None,
        optional=False,
        **kwargs,
    ):
        if "input_shape" in kwargs:  # Keras 2 spelling
            shape = kwargs.pop("input_shape")
        if "batch_input_shape" in kwargs:
            batch_shape = kwargs.pop("batch_input_shape")
        super().__init__(name=name, **kwargs)
        if sparse:
            raise ValueError(f"InputLayer '{self.name}': sparse inputs are not supported.")
        if batch_shape is None:
            if shape is None:
                raise ValueError("You must pass a `shape` argument to Input.")
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            batch_shape = (batch_size, *shape)
        self.batch_shape = tuple(batch_shape)
        self.dtype_name = "float32" if dtype in (None, "float32") else str(dtype)
        self.built = True
        node = CallNode(self, [], False)
        self.output = KerasTensor((None, *self.batch_shape[1:]), self.dtype_name, node, name=self.name)
        node.outputs = [self.output]
        self._inbound_nodes.append(node)

    def get_config(self) -> dict:
        return {"batch_shape": self.batch_shape, "dtype": self.dtype_name, "sparse": False, "name": self.name}


def Input(
    shape=None,
    batch_size=None,
    dtype=None,
    sparse=None,
    batch_shape=None,
    name=None,
    tensor=None,
    optional=False,
) -> KerasTensor:
    """A symbolic input of a model: `Input(shape=(784,))` has shape (None, 784)."""
    return InputLayer(shape, batch_size, dtype, sparse, batch_shape, name).output
