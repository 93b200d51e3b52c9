"""Adagrad: per-weight learning rates shrinking with the sum of squared gradients."""

from __future__ import annotations

from kgraph import ops
from kgraph.optimizers.base import Optimizer


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011): `acc += g**2`, `w -= lr * g / sqrt(acc + epsilon)`.

    Args:
        learning_rate: a float or a schedule. Defaults to 0.001.
        initial_accumulator_value: the starting value of every accumulator. Defaults to 0.1.
        epsilon: added inside the square root for stability. Defaults to 1e-7.
        **kwargs: the arguments of `Optimizer` (weight decay, clipping, name).
    """

    slot_groups = (("accumulator",),)

    def __init__(
        self,
        learning_rate=0.001,
        initial_accumulator_value=0.1,
        epsilon=1e-7,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def slot_initial_value(self, slot_name: str) -> float:
        return float(self.initial_accumulator_value)

    def update_rule(self, param, grad, slots, lr, step):
        accumulator = ops.add(slots["accumulator"], ops.square(grad))
        update = ops.divide(ops.multiply(lr, grad), ops.sqrt(ops.add(accumulator, self.epsilon)))
        return ops.subtract(param, update), {"accumulator": accumulator}

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }
