"""MultiHeadAttention: scaled dot-product attention over `num_heads` learned projections (Transformers)."""

from __future__ import annotations

import math

import numpy as np

from kgraph import ops
from kgraph.layers.core.activation_layers import Softmax
from kgraph.layers.layer import Layer
from kgraph.layers.weight_args import add_kernel, serialize_weight_args, set_weight_args


class MultiHeadAttention(Layer):
    """Multi-head attention as in "Attention Is All You Need": the query, key and value are projected to
    `num_heads` heads, each head attends with scaled dot products, and the heads are projected back.

    Inputs are (batch, steps, features); attention runs over the steps (Keras's default `attention_axes`).

    Args:
        num_heads: the number of heads.
        key_dim: the size of each head for query and key.
        value_dim: the size of each head for value (default `key_dim`).
        dropout: the fraction of attention weights dropped in training.
        use_bias: whether the projections have biases.
        output_shape: the last dimension of the output (default: the query's).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, kernel_constraint,
            bias_constraint: for the four projections, as in Dense.

    Call arguments: `query`, `value`, `key` (default `value`); `attention_mask` (batch, T, S), 1 where a
    query step may attend; `value_mask`/`key_mask` (batch, S); `return_attention_scores`; `training`;
    `use_causal_mask`. Masks of inputs from `Embedding(mask_zero=True)` or `Masking` apply as in Keras.

    Example:

    >>> attended = MultiHeadAttention(num_heads=2, key_dim=16)(x, x)  # self-attention
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        dropout=0.0,
        use_bias=True,
        output_shape=None,
        attention_axes=None,
        flash_attention=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        use_gate=False,
        sliding_window=None,
        seed=None,
        **kwargs,
    ):
        for name, value in (("num_heads", num_heads), ("key_dim", key_dim)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"Received an invalid value for argument `{name}`, expected a positive integer. "
                    f"Received: {name}={value}"
                )
        if value_dim is not None and (not isinstance(value_dim, int) or value_dim <= 0):
            raise ValueError(
                "Received an invalid value for argument `value_dim`, expected a positive integer or `None`. "
                f"Received: value_dim={value_dim}"
            )
        unsupported = {
            "attention_axes": attention_axes not in (None, 1, (1,), [1], -2, (-2,), [-2]),
            "activity_regularizer": activity_regularizer is not None,
            "use_gate": bool(use_gate),
            "sliding_window": sliding_window is not None,
        }
        for name, asked in unsupported.items():
            if asked:
                raise NotImplementedError(
                    f"MultiHeadAttention: `{name}` is not supported by kgraph yet (attention runs over the "
                    "steps of (batch, steps, features) inputs)."
                )
        super().__init__(**kwargs)
        self.num_heads, self.key_dim = num_heads, key_dim
        self.value_dim = value_dim or key_dim
        self.dropout, self.use_bias, self.seed = dropout, use_bias, seed
        if isinstance(output_shape, int):
            output_shape = (output_shape,)
        if output_shape is not None and len(output_shape) != 1:
            raise NotImplementedError(
                f"MultiHeadAttention: an `output_shape` of one dimension only, received {output_shape}."
            )
        self.output_shape_arg = tuple(output_shape) if output_shape else None
        self.flash_attention = flash_attention
        set_weight_args(self, "kernel", kernel_initializer, kernel_regularizer, kernel_constraint)
        set_weight_args(self, "bias", bias_initializer, bias_regularizer, bias_constraint)
        self.supports_masking = True
        # Named after this layer (not by a global counter): kernel sources name the layers they come from, and
        # a model loaded from a file must generate the same source to find its kernels in the disk cache.
        self._softmax = Softmax(axis=-1, name=f"{self.name}_softmax")

    # Keras takes query and value (and key) as separate arguments; the model graph holds them as one list.
    inputs_as_arguments = True

    def __call__(self, query, value=None, key=None, **kwargs):
        if value is None and isinstance(query, list | tuple):
            inputs = list(query)
        else:
            inputs = [query, value] + ([key] if key is not None else [])
        return super().__call__(inputs, **kwargs)

    def build(self, input_shape) -> None:
        shapes = [tuple(s) for s in input_shape]
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        if any(len(s) != 3 for s in (query, value, key)):
            raise NotImplementedError(
                f"MultiHeadAttention '{self.name}': inputs of rank 3 (batch, steps, features) only, received "
                f"shapes {shapes}."
            )
        if value[1:-1] != key[1:-1]:
            raise ValueError(
                "All dimensions of `value` and `key`, except the last one, must be equal. "
                f"Received: value_shape={value} and key_shape={key}"
            )
        output_dim = self.output_shape_arg[0] if self.output_shape_arg else query[-1]
        heads = self.num_heads
        self._projections = {}
        for name, features, size in (
            ("query", query[-1], self.key_dim),
            ("key", key[-1], self.key_dim),
            ("value", value[-1], self.value_dim),
        ):
            self._projections[name] = self._kernel_and_bias(name, (features, heads, size), (heads, size))
        self._projections["attention_output"] = self._kernel_and_bias(
            "attention_output", (heads, self.value_dim, output_dim), (output_dim,)
        )

    def _kernel_and_bias(self, name: str, kernel_shape: tuple, bias_shape: tuple):
        kernel = add_kernel(self, kernel_shape, "kernel", f"{name}/kernel")
        return kernel, add_kernel(self, bias_shape, "bias", f"{name}/bias") if self.use_bias else None

    @staticmethod
    def keras_build_config(shapes: list) -> dict:
        """The build config Keras writes: a shape per input, by the names of its `build`'s arguments."""
        return {"shapes_dict": dict(zip(("query_shape", "value_shape", "key_shape"), shapes, strict=False))}

    def keras_weight_groups(self) -> list[tuple[str, list]]:
        """Where Keras's weight files keep the variables: on its sublayers, by attribute name in sorted
        order (the dropout and softmax sublayers hold none)."""
        sublayers = [
            ("key_dense", "key"),
            ("output_dense", "attention_output"),
            ("query_dense", "query"),
            ("value_dense", "value"),
        ]
        groups = [("_dropout_layer", []), ("_softmax", [])]
        for attribute, projection in sublayers:
            groups.append((attribute, [w for w in self._projections[projection] if w is not None]))
        return groups

    def _project(self, name: str, x, heads: bool):
        """(batch, steps, features) through a projection: to (batch, heads, steps, size) when `heads`, else
        from (batch, steps, heads, size) to (batch, steps, output)."""
        kernel, bias = self._projections[name]
        shape = tuple(ops.shape(kernel))
        if heads:
            y = ops.matmul(x, ops.reshape(kernel, (shape[0], shape[1] * shape[2])))
            if bias is not None:
                y = ops.add(y, ops.reshape(bias, (-1,)))
            return ops.transpose(ops.reshape(y, (-1, ops.shape(x)[1], shape[1], shape[2])), (0, 2, 1, 3))
        y = ops.matmul(
            ops.reshape(x, (-1, ops.shape(x)[1], shape[0] * shape[1])), ops.reshape(kernel, (-1, shape[2]))
        )
        return y if bias is None else ops.add(y, bias)

    def call(
        self,
        inputs,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
        use_causal_mask=False,
        mask=None,
    ):
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        implicit = list(mask) if isinstance(mask, list | tuple) else [mask]
        implicit += [None] * (3 - len(implicit))
        # As Keras: the query's own mask replaces a `query_mask` argument; the value's and key's masks fill
        # `value_mask` and `key_mask` when those are not given.
        query_mask = implicit[0]
        value_mask = implicit[1] if value_mask is None else value_mask
        if key_mask is None and len(inputs) > 2:
            key_mask = implicit[2]
        keep = self._attention_mask(
            query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask
        )
        q = ops.multiply(self._project("query", query, True), 1.0 / math.sqrt(float(self.key_dim)))
        k = self._project("key", key, True)
        v = self._project("value", value, True)
        scores = ops.matmul(q, ops.swapaxes(k, -1, -2))  # (batch, heads, T, S)
        if keep is not None and not (self.dropout > 0 or return_attention_scores):
            # Keras computes this case with its fused dot-product attention, where a query step masked
            # everywhere attends to every step alike; its masked softmax (the other case) gives it no weight.
            scores = ops.where(ops.expand_dims(keep, 1), scores, -1.0e9)
            keep = None
        weights = self._softmax(scores, mask=None if keep is None else ops.expand_dims(keep, 1))
        attended = weights
        if training and self.dropout > 0:
            dropped = ops.greater_equal(ops.random_uniform(ops.shape(weights)), self.dropout)
            attended = ops.where(dropped, ops.divide(weights, 1.0 - self.dropout), 0.0)
        heads = ops.transpose(ops.matmul(attended, v), (0, 2, 1, 3))  # (batch, T, heads, value_dim)
        outputs = self._project("attention_output", heads, False)
        return [outputs, weights] if return_attention_scores else outputs

    @staticmethod
    def _attention_mask(query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask):
        """(batch, T, S) with 1 where a query step may attend to a value step, or None where all may: the
        product of the masks given (Keras ANDs them)."""
        parts = []
        if query_mask is not None:
            parts.append(ops.expand_dims(ops.greater(query_mask, 0.5), -1))
        for step_mask in (value_mask, key_mask):
            if step_mask is not None:
                parts.append(ops.expand_dims(ops.greater(step_mask, 0.5), -2))
        if use_causal_mask:
            steps_q, steps_v = ops.shape(query)[1], ops.shape(value)[1]
            parts.append(np.tri(steps_q, steps_v, dtype=np.float32)[None])
        if attention_mask is not None:
            parts.append(ops.greater(attention_mask, 0.5))
        if not parts:
            return None
        keep = parts[0]
        for part in parts[1:]:
            keep = ops.multiply(keep, part)
        return keep

    def compute_mask(self, inputs, previous_mask=None):
        return previous_mask[0] if isinstance(previous_mask, list | tuple) and previous_mask else None

    def compute_output_shape(self, input_shape, return_attention_scores=False):
        query, value = tuple(input_shape[0]), tuple(input_shape[1])
        output = (*query[:-1], self.output_shape_arg[0] if self.output_shape_arg else query[-1])
        if return_attention_scores:
            return [output, (query[0], self.num_heads, query[1], value[1])]
        return output

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "use_gate": False,
            "output_shape": self.output_shape_arg,
            "attention_axes": None,
            "sliding_window": None,
            **serialize_weight_args(self, "kernel"),
            **serialize_weight_args(self, "bias"),
            "activity_regularizer": None,
            "seed": self.seed,
        }
