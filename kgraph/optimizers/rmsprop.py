"""RMSprop: gradients scaled by a moving root mean square of their history."""

from __future__ import annotations

from kgraph import ops
from kgraph.optimizers.base import Optimizer


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012), optionally centered and with momentum.

    `v = rho * v + (1 - rho) * g**2`, `increment = lr * g / sqrt(v + epsilon)`; centered RMSprop also tracks
    the mean gradient `a` and uses `sqrt(v - a**2 + epsilon)`. With momentum,
    `m = momentum * m + increment` and `w -= m`; otherwise `w -= increment`.

    Args:
        learning_rate: a float or a schedule. Defaults to 0.001.
        rho: the discount of the gradient history. Defaults to 0.9.
        momentum: momentum; 0 disables it. Defaults to 0.
        epsilon: added inside the square root for stability. Defaults to 1e-7.
        centered: whether to normalize by the estimated variance instead of the second moment. Defaults to
            False.
        **kwargs: the arguments of `Optimizer` (weight decay, clipping, name).
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
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
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    @property
    def slot_groups(self):
        groups = [("velocity",)]
        if self.momentum > 0:
            groups.append(("momentum",))
        if self.centered:
            groups.append(("average_gradient",))
        return tuple(groups)

    def update_rule(self, param, grad, slots, lr, step):
        rho = self.rho
        velocity = ops.add(ops.multiply(rho, slots["velocity"]), ops.multiply(1.0 - rho, ops.square(grad)))
        new_slots = {"velocity": velocity}
        if self.centered:
            average = ops.add(ops.multiply(rho, slots["average_gradient"]), ops.multiply(1.0 - rho, grad))
            new_slots["average_gradient"] = average
            denominator = ops.add(ops.subtract(velocity, ops.square(average)), self.epsilon)
        else:
            denominator = ops.add(velocity, self.epsilon)
        increment = ops.divide(ops.multiply(lr, grad), ops.sqrt(denominator))
        if self.momentum > 0:
            increment = new_slots["momentum"] = ops.add(
                ops.multiply(self.momentum, slots["momentum"]), increment
            )
        return ops.subtract(param, increment), new_slots

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }
