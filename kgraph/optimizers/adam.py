"""Adam: adaptive moment estimation, with the optional AMSGrad variant."""

from __future__ import annotations

from kgraph import ops
from kgraph.optimizers.base import Optimizer


class Adam(Optimizer):
    """Adam, as Kingma and Ba, 2014, in Keras's form (bias correction folded into the step size).

    `m += (g - m) * (1 - beta_1)`, `v += (g**2 - v) * (1 - beta_2)`, then
    `w -= m * alpha / (sqrt(v) + epsilon)` with `alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`. AMSGrad
    uses the running maximum of `v` instead of `v`.

    Args:
        learning_rate: a float or a schedule. Defaults to 0.001.
        beta_1: decay rate of the first moment. Defaults to 0.9.
        beta_2: decay rate of the second moment. Defaults to 0.999.
        epsilon: added to the denominator for stability. Defaults to 1e-7.
        amsgrad: whether to apply AMSGrad (Reddi et al., 2018). Defaults to False.
        **kwargs: the arguments of `Optimizer` (weight decay, clipping, name).
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
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
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad

    @property
    def slot_groups(self):
        return (("momentum", "velocity"), ("velocity_hat",)) if self.amsgrad else (("momentum", "velocity"),)

    def update_rule(self, param, grad, slots, lr, step):
        beta_1_power = ops.power(self.beta_1, step)
        beta_2_power = ops.power(self.beta_2, step)
        alpha = ops.divide(
            ops.multiply(lr, ops.sqrt(ops.subtract(1.0, beta_2_power))), ops.subtract(1.0, beta_1_power)
        )
        m, v = slots["momentum"], slots["velocity"]
        m = ops.add(m, ops.multiply(ops.subtract(grad, m), 1.0 - self.beta_1))
        v = ops.add(v, ops.multiply(ops.subtract(ops.square(grad), v), 1.0 - self.beta_2))
        new_slots = {"momentum": m, "velocity": v}
        if self.amsgrad:
            v = new_slots["velocity_hat"] = ops.maximum(slots["velocity_hat"], v)
        update = ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon))
        return ops.subtract(param, update), new_slots

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }
