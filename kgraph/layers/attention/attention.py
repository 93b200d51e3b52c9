"""Attention: Luong-style (dot-product) attention, or Bahdanau-style scores (`score_mode="concat"`)."""

from __future__ import annotations

import numpy as np

from kgraph import ops
from kgraph.layers.layer import Layer

_LARGE_NEGATIVE = 1.0e9  # subtracted from a masked score before the softmax (Keras's float32 value)
_SCORE_MODES = ("dot", "concat")


class Attention(Layer):
    """Attention of a `query` (batch, Tq, dim) over a `value` (batch, Tv, dim), keyed by `key` (the value when
    not given): `softmax(query @ key^T) @ value`, of shape (batch, Tq, dim).

    Args:
        use_scale: a trainable scalar multiplying the scores.
        score_mode: "dot" (query . key) or "concat" (sum of tanh(query + key), scaled by a trainable scalar).
        dropout: the fraction of attention weights dropped in training.
        seed: accepted for Keras compatibility.

    Call arguments: `inputs` ([query, value] or [query, value, key]); `mask` ([query_mask, value_mask]:
    masked query steps output 0, masked value steps get no weight); `training`; `return_attention_scores`
    (also return the weights, (batch, Tq, Tv)); `use_causal_mask` (step i attends to steps j <= i only).

    Example:

    >>> outputs = Attention()([query, value])
    """

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in _SCORE_MODES:
            raise ValueError(
                "Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                f"Received: score_mode={score_mode}"
            )
        self.use_scale, self.score_mode, self.dropout, self.seed = use_scale, score_mode, dropout, seed
        self.supports_masking = True

    def build(self, input_shape) -> None:
        self._check_inputs(input_shape)
        self.scale = self.add_weight(name="scale", shape=(), initializer="ones") if self.use_scale else None
        self.concat_score_weight = None
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight(
                name="concat_score_weight", shape=(), initializer="ones"
            )

    def _check_inputs(self, inputs, mask=None) -> None:
        """Keras's checks: a list of 2 or 3 inputs (or of their shapes), and of 2 or 3 masks."""
        name = type(self).__name__
        if not isinstance(inputs, list | tuple) or any(d is None or isinstance(d, int) for d in inputs):
            raise ValueError(
                f"{name} layer must be called on a list of inputs, namely [query, value] or "
                f"[query, value, key]. Received: inputs={inputs}."
            )
        if not 2 <= len(inputs) <= 3:
            raise ValueError(
                f"{name} layer accepts inputs list of length 2 or 3, namely [query, value] or "
                f"[query, value, key]. Received length: {len(inputs)}."
            )
        if mask is not None and (not isinstance(mask, list | tuple) or not 2 <= len(mask) <= 3):
            raise ValueError(
                f"{name} layer mask must be a list of length 2 or 3, namely [query_mask, value_mask]. "
                f"Received: mask={mask}."
            )

    def _scores(self, query, key):
        """(batch, Tq, Tv) scores of every query step against every key step."""
        if self.score_mode == "dot":
            scores = ops.matmul(query, ops.swapaxes(key, -2, -1))
            return scores if self.scale is None else ops.multiply(scores, self.scale)
        pairs = ops.add(ops.expand_dims(query, -2), ops.expand_dims(key, -3))
        if self.scale is not None:
            pairs = ops.multiply(pairs, self.scale)
        return ops.multiply(self.concat_score_weight, ops.sum(ops.tanh(pairs), axis=-1))

    def call(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False):
        self._check_inputs(inputs, mask)
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        query_mask = mask[0] if mask else None
        value_mask = mask[1] if mask else None
        scores = self._scores(query, key)
        keep = self._kept_scores(scores, value_mask, use_causal_mask)
        if keep is not None:
            scores = ops.where(keep, scores, ops.subtract(scores, _LARGE_NEGATIVE))
        weights = ops.softmax(scores, axis=-1)
        if training and self.dropout > 0:
            dropped = ops.greater_equal(ops.random_uniform(ops.shape(weights)), self.dropout)
            weights = ops.where(dropped, ops.divide(weights, 1.0 - self.dropout), 0.0)
        outputs = ops.matmul(weights, value)
        if query_mask is not None:
            outputs = ops.where(ops.greater(ops.expand_dims(query_mask, -1), 0.5), outputs, 0.0)
        return [outputs, weights] if return_attention_scores else outputs

    @staticmethod
    def _kept_scores(scores, value_mask, use_causal_mask):
        """Where a score counts (nonzero), from the value mask and the causal mask; None where all do."""
        keep = None if value_mask is None else ops.expand_dims(ops.greater(value_mask, 0.5), -2)
        if use_causal_mask:
            steps_q, steps_v = tuple(ops.shape(scores))[-2:]
            causal = np.tri(steps_q, steps_v, dtype=np.float32)[None]  # step i sees steps j <= i
            keep = causal if keep is None else ops.multiply(keep, causal)
        return keep

    def compute_mask(self, inputs, previous_mask=None):
        if not previous_mask:
            return None
        return previous_mask[0]

    def compute_output_shape(self, input_shape, return_attention_scores=False):
        query, value = tuple(input_shape[0]), tuple(input_shape[1])
        key = tuple(input_shape[2]) if len(input_shape) > 2 else value
        output = (*query[:-1], value[-1])
        return [output, (*query[:-1], key[-2])] if return_attention_scores else output

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "use_scale": self.use_scale,
            "score_mode": self.score_mode,
            "dropout": self.dropout,
            "seed": self.seed,
        }
