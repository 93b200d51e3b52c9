"""Embedding: table rows of a table picked by integer indices (`ops.take`; its gradient is a scatter-add)."""

from __future__ import annotations

from kgraph import constraints, initializers, ops, regularizers
from kgraph.layers.layer import Layer


class Embedding(Layer):
    """Keras's Embedding: turns indices (batch, ...) into vectors (batch, ..., output_dim).

    Args:
        input_dim: the vocabulary size (largest index + 1).
        output_dim: the size of each vector.
        embeddings_initializer, embeddings_regularizer, embeddings_constraint: for the table (default
            'uniform', i.e. uniform in [-0.05, 0.05]).
        mask_zero: index 0 is padding; the layer then produces a mask for the layers that follow.

    Example:
        >>> Embedding(10, 4)(np.array([[1, 2, 0]])).shape
        (1, 3, 4)
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        weights=None,
        lora_rank=None,
        input_length=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for argument, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"Layer '{self.name}': `{argument}` must be a positive integer, "
                    f"received {argument}={value}."
                )
        if lora_rank:
            raise ValueError(f"Embedding '{self.name}': LoRA is not supported.")
        self.input_dim, self.output_dim = input_dim, output_dim
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = mask_zero
        self.supports_masking = mask_zero
        self._initial_weights = weights

    def build(self, input_shape=None) -> None:
        self.embeddings = self.add_weight(
            (self.input_dim, self.output_dim),
            self.embeddings_initializer,
            name="embeddings",
            regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
        )
        self.built = True
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)

    def call(self, inputs):
        return ops.take(self.embeddings, inputs)

    def compute_mask(self, inputs, previous_mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0.0)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape), self.output_dim)

    def get_config(self) -> dict:
        def optional(module, obj):
            return None if obj is None else module.serialize(obj)

        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": optional(regularizers, self.embeddings_regularizer),
            "activity_regularizer": optional(regularizers, self.activity_regularizer),
            "embeddings_constraint": optional(constraints, self.embeddings_constraint),
            "mask_zero": self.mask_zero,
        }
