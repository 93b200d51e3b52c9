"""`keras.optimizers.schedules`: learning rates as functions of the optimizer's step.

Schedules are written with `kgraph.ops`, so the optimizer evaluates them inside the compiled training step
from its `iterations` variable (no recompilation as the rate changes), and eagerly on numbers. Branches are
`where` selections. Each formula keeps Keras's operation order, and folds in Python exactly the constants
Keras folds in Python, so float32 results match Keras's.
"""

from __future__ import annotations

import math

import numpy as np

from kgraph import ops


def _float_step(step):
    return ops.cast(step, "float32")


def _f32(value):
    """A float32 scalar, for constants Keras converts to tensors before combining them."""
    return ops.convert_to_tensor(float(value), "float32")


def _check_decay_steps(arg: str, value) -> None:
    if value <= 0:
        raise ValueError(f"Argument `{arg}` must be > 0. Received: {arg}={value}")


class LearningRateSchedule:
    """Base class of learning rate schedules: `schedule(step)` returns the rate at that step.

    Subclasses implement `__call__(step)` with `kgraph.ops` (so that it also traces) and `get_config()`.
    """

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, step)`."
        )

    def get_config(self) -> dict:
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `get_config()` "
            "in order to be serializable."
        )

    @classmethod
    def from_config(cls, config: dict) -> LearningRateSchedule:
        return cls(**config)


class ExponentialDecay(LearningRateSchedule):
    """`initial_learning_rate * decay_rate ** (step / decay_steps)`; `staircase` floors the exponent.

    Example:

    >>> schedule = ExponentialDecay(1.0, decay_steps=10, decay_rate=0.5)
    >>> float(schedule(20))
    0.25
    """

    def __init__(
        self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"
    ):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        _check_decay_steps("decay_steps", decay_steps)

    def __call__(self, step):
        p = ops.divide(_float_step(step), _f32(self.decay_steps))
        if self.staircase:
            p = ops.floor(p)
        return ops.multiply(_f32(self.initial_learning_rate), ops.power(_f32(self.decay_rate), p))

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """`values[0]` up to and including step `boundaries[0]`, `values[1]` up to `boundaries[1]`, and so on.

    Example:

    >>> schedule = PiecewiseConstantDecay([100, 200], [1.0, 0.5, 0.25])
    >>> [float(schedule(s)) for s in (100, 101, 201)]
    [1.0, 0.5, 0.25]
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. Received: "
                f"boundaries={boundaries} of length {len(boundaries)}, and values={values} of length "
                f"{len(values)}."
            )
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        step = _float_step(step)
        # One 0/1 indicator per interval, so the sum selects exactly one value (as Keras computes it).
        result = ops.multiply(ops.less_equal(step, float(self.boundaries[0])), float(self.values[0]))
        result = ops.add(
            result, ops.multiply(ops.greater(step, float(self.boundaries[-1])), float(self.values[-1]))
        )
        for low, high, value in zip(
            self.boundaries[:-1], self.boundaries[1:], self.values[1:-1], strict=True
        ):
            inside = ops.multiply(ops.greater(step, float(low)), ops.less_equal(step, float(high)))
            result = ops.add(result, ops.multiply(inside, float(value)))
        return result

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """Decays from `initial_learning_rate` to `end_learning_rate` as `(1 - step / decay_steps) ** power`.

    Without `cycle` the rate stays at `end_learning_rate` after `decay_steps`; with it, `decay_steps` grows to
    the next multiple of itself above `step`.
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        end_learning_rate=0.0001,
        power=1.0,
        cycle=False,
        name="PolynomialDecay",
    ):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name
        _check_decay_steps("decay_steps", decay_steps)

    def __call__(self, step):
        step = _float_step(step)
        decay_steps = _f32(self.decay_steps)
        if self.cycle:
            multiplier = ops.where(
                ops.equal(step, 0.0), 1.0, ops.ceil(ops.divide(step, float(self.decay_steps)))
            )
            decay_steps = ops.multiply(decay_steps, multiplier)
        else:
            step = ops.minimum(step, decay_steps)
        p = ops.divide(step, decay_steps)
        end = _f32(self.end_learning_rate)
        span = ops.subtract(_f32(self.initial_learning_rate), end)
        return ops.add(ops.multiply(span, ops.power(ops.subtract(1.0, p), _f32(self.power))), end)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class InverseTimeDecay(LearningRateSchedule):
    """`initial_learning_rate / (1 + decay_rate * step / decay_steps)`; `staircase` floors the ratio."""

    def __init__(
        self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"
    ):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        _check_decay_steps("decay_steps", decay_steps)

    def __call__(self, step):
        p = ops.divide(_float_step(step), _f32(self.decay_steps))
        if self.staircase:
            p = ops.floor(p)
        denominator = ops.add(1.0, ops.multiply(_f32(self.decay_rate), p))
        return ops.divide(_f32(self.initial_learning_rate), denominator)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


def _cosine_decay(step, decay_steps, decay_from, alpha: float):
    fraction = ops.divide(step, decay_steps)
    cosine = ops.multiply(0.5, ops.add(1.0, ops.cos(ops.multiply(_f32(math.pi), fraction))))
    return ops.multiply(decay_from, ops.add(ops.multiply(1.0 - alpha, cosine), alpha))


class CosineDecay(LearningRateSchedule):
    """Cosine decay from `initial_learning_rate` to `alpha` times it over `decay_steps`, after a warmup.

    With `warmup_target`, the rate first rises linearly from `initial_learning_rate` to `warmup_target` over
    `warmup_steps`, then decays from `warmup_target`.
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        alpha=0.0,
        name="CosineDecay",
        warmup_target=None,
        warmup_steps=0,
    ):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_steps = warmup_steps
        self.warmup_target = warmup_target
        _check_decay_steps("decay_steps", decay_steps)

    def __call__(self, step):
        initial = _f32(self.initial_learning_rate)
        decay_steps = _f32(self.decay_steps)
        step = _float_step(step)
        if self.warmup_target is None:
            return _cosine_decay(ops.minimum(step, decay_steps), decay_steps, initial, self.alpha)
        target = _f32(self.warmup_target)
        warmup_steps = _f32(self.warmup_steps)
        step = ops.minimum(step, ops.add(decay_steps, warmup_steps))
        warming = ops.add(
            ops.multiply(ops.subtract(target, initial), ops.divide(step, warmup_steps)), initial
        )
        decaying = _cosine_decay(ops.subtract(step, warmup_steps), decay_steps, target, self.alpha)
        return ops.where(ops.less(step, warmup_steps), warming, decaying)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): periods `first_decay_steps * t_mul**i`, peaks times `m_mul`."""

    def __init__(
        self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"
    ):
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name
        _check_decay_steps("first_decay_steps", first_decay_steps)

    def __call__(self, step):
        alpha, t_mul, m_mul = _f32(self.alpha), _f32(self._t_mul), _f32(self._m_mul)
        fraction = ops.divide(_float_step(step), _f32(self.first_decay_steps))
        if np.float32(self._t_mul) == 1.0:  # Keras compares in float32 too
            restart = ops.floor(fraction)
            fraction = ops.subtract(fraction, restart)
        else:
            # Period i lasts t_mul**i; the periods before restart i sum to (1 - t_mul**i) / (1 - t_mul).
            one_minus_t = ops.subtract(1.0, t_mul)
            restart = ops.floor(
                ops.divide(ops.log(ops.subtract(1.0, ops.multiply(fraction, one_minus_t))), ops.log(t_mul))
            )
            done = ops.divide(ops.subtract(1.0, ops.power(t_mul, restart)), one_minus_t)
            fraction = ops.divide(ops.subtract(fraction, done), ops.power(t_mul, restart))
        peak = ops.power(m_mul, restart)
        cosine = ops.multiply(
            ops.multiply(0.5, peak), ops.add(1.0, ops.cos(ops.multiply(_f32(math.pi), fraction)))
        )
        decayed = ops.add(ops.multiply(ops.subtract(1.0, alpha), cosine), alpha)
        return ops.multiply(_f32(self.initial_learning_rate), decayed)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self._t_mul,
            "m_mul": self._m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


ALL_OBJECTS = {
    cls.__name__: cls
    for cls in (
        LearningRateSchedule,
        ExponentialDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        InverseTimeDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}


def serialize(learning_rate_schedule: LearningRateSchedule) -> dict:
    """The Keras-format config dict of a schedule (`module`, `class_name`, `config`, `registered_name`)."""
    cls = type(learning_rate_schedule)
    builtin = ALL_OBJECTS.get(cls.__name__) is cls
    return {
        "module": "keras.optimizers.schedules" if builtin else cls.__module__,
        "class_name": cls.__name__,
        "config": learning_rate_schedule.get_config(),
        "registered_name": None if builtin else cls.__name__,
    }


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """Builds a schedule from a dict made by `serialize` (custom classes through `custom_objects`)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not deserialize learning rate schedule config: {config!r}")
    custom_objects = custom_objects or {}
    for name in (config.get("registered_name"), config["class_name"]):
        if name in custom_objects:
            return custom_objects[name].from_config(dict(config.get("config") or {}))
    cls = ALL_OBJECTS.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Unknown decay: {config['class_name']!r}. Valid names are: {sorted(ALL_OBJECTS)}")
    return cls.from_config(dict(config.get("config") or {}))
