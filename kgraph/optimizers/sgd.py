"""Stochastic gradient descent, with optional (Nesterov) momentum."""

from __future__ import annotations

from kgraph import ops
from kgraph.optimizers.base import Optimizer, _is_number


class SGD(Optimizer):
    """Gradient descent with momentum.

    Without momentum: `w = w - learning_rate * g`. With momentum: `m = momentum * m - learning_rate * g`, then
    `w = w + m`, or with Nesterov `w = w + momentum * m - learning_rate * g` (with the new `m`).

    Args:
        learning_rate: a float or a schedule. Defaults to 0.01.
        momentum: a float in [0, 1] that accelerates descent along consistent directions. Defaults to 0.
        nesterov: whether to use Nesterov momentum. Defaults to False.
        **kwargs: the arguments of `Optimizer` (weight decay, clipping, name).

    Example:

    >>> opt = SGD(learning_rate=0.1)
    >>> w = Variable(np.array([1.0], np.float32))
    >>> _ = opt.apply_gradients([(np.array([2.0], np.float32), w)])
    >>> w.numpy()
    array([0.8], dtype=float32)
    """

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        nesterov=False,
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
        if not _is_number(momentum) or momentum < 0 or momentum > 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum = momentum
        self.nesterov = nesterov

    @property
    def slot_groups(self):
        return (("momentum",),) if self.momentum != 0 else ()

    def update_rule(self, param, grad, slots, lr, step):
        if self.momentum == 0:
            return ops.subtract(param, ops.multiply(grad, lr)), {}
        momentum = ops.subtract(ops.multiply(slots["momentum"], self.momentum), ops.multiply(grad, lr))
        if self.nesterov:
            step_change = ops.subtract(ops.multiply(momentum, self.momentum), ops.multiply(grad, lr))
        else:
            step_change = momentum
        return ops.add(param, step_change), {"momentum": momentum}

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
