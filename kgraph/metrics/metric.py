"""The `Metric` base class: state in variables, updated by traceable code, read back eagerly.

`update_state` is written with `kgraph.ops` and `Variable.assign`/`assign_add` only, so the model can trace it
into the compiled training step, where it updates the metric's variables in place. `result()` runs eagerly on
the variables' current values and returns a Python float (or a numpy array).
"""

from __future__ import annotations

import numpy as np

from kgraph.losses.loss import auto_name, check_dtype
from kgraph.variables import Variable


class Metric:
    """Base class of metrics.

    Subclasses create their state with `add_variable` in `__init__` (or on the first update), and implement
    `update_state(...)` and `result()`.

    Args:
        dtype: Only float32 is supported.
        name: The metric's name (default: the class name in snake case, numbered).

    Example:

    >>> class Total(Metric):
    ...     def __init__(self, name="total"):
    ...         super().__init__(name=name)
    ...         self.total = self.add_variable((), name="total")
    ...     def update_state(self, values):
    ...         self.total.assign_add(ops.sum(values))
    ...     def result(self):
    ...         return float(self.total.value)
    """

    def __init__(self, dtype=None, name: str | None = None):
        self.name = name or auto_name(type(self).__name__)
        self._dtype = check_dtype(dtype, f"Metric '{self.name}'")
        self._variables: list[Variable] = []
        self._initial_values: dict[str, np.ndarray] = {}
        self._metrics: list[Metric] = []

    def __setattr__(self, name, value):
        # Sub-metrics held as attributes contribute their variables, as in Keras.
        if isinstance(value, Metric) and "_metrics" in self.__dict__:
            self._metrics.append(value)
        super().__setattr__(name, value)

    @property
    def dtype(self) -> str:
        return self._dtype

    @property
    def variables(self) -> list[Variable]:
        return [*self._variables, *(v for metric in self._metrics for v in metric.variables)]

    def add_variable(
        self, shape, initializer="zeros", dtype=None, aggregation="sum", name: str | None = None
    ):
        """Creates a non-trainable state variable (path `'<metric name>/<name>'`) and tracks it."""
        check_dtype(dtype, f"Metric '{self.name}'")
        variable = Variable(initializer=initializer, shape=tuple(shape), trainable=False, name=name)
        variable.path = f"{self.name}/{variable.name}"
        self._variables.append(variable)
        self._initial_values[variable.key] = variable.numpy()
        return variable

    def add_weight(self, shape=(), initializer=None, dtype=None, name: str | None = None):
        """Alias of `add_variable` (zeros when no initializer is given)."""
        return self.add_variable(shape, initializer or "zeros", dtype=dtype, name=name)

    def reset_state(self) -> None:
        """Puts every variable back to the value it was created with."""
        for variable in self._variables:
            variable.assign(self._initial_values[variable.key])
        for metric in self._metrics:
            metric.reset_state()

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement `update_state`.")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement `result`.")

    def __call__(self, *args, **kwargs):
        """Updates the state with one batch and returns the result so far."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def divide_no_nan(x, y):
    """Eager `x / y` in float32, 0 where `y` is 0 (for `result()`)."""
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y == 0, np.float32(0), x / np.where(y == 0, np.float32(1), y)).astype(np.float32)


def as_result(value):
    """A Python float for a scalar, else a float32 numpy array."""
    value = np.asarray(value, np.float32)
    return float(value) if value.ndim == 0 else value
