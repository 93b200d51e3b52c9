"""Weight initializers with the names, arguments and formulas of `keras.initializers`.

Initializers return numpy arrays (float32 unless another dtype is asked for). Seeding
follows Keras 3: an initializer draws from a fixed seed, so calling the same object
twice gives the same values. With `seed=None` that seed is drawn once, at construction,
from `kgraph.random`'s global generator, which `kgraph.utils.set_random_seed` resets.
Pass a `kgraph.random.SeedGenerator` to get new values on every call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from kgraph import config
from kgraph import random as kg_random

# Standard deviation of a unit normal truncated to [-2, 2]; dividing by it keeps the
# variance that VarianceScaling asks for after truncation.
_TRUNCATED_STDDEV = 0.87962566103423978


def _standardize_shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(shape, int | np.integer):
        shape = (shape,)
    dims = tuple(shape)
    if any(d is None or int(d) < 0 for d in dims):
        raise ValueError(
            f"Cannot initialize a tensor of undefined or negative shape. Received: shape={shape}"
        )
    return tuple(int(d) for d in dims)


def _dtype(dtype: Any) -> np.dtype:
    return np.dtype(dtype if dtype is not None else config.floatx())


def _float_dtype(dtype: Any) -> np.dtype:
    dt = _dtype(dtype)
    if not np.issubdtype(dt, np.floating):
        raise ValueError(f"Random initializers produce floats only. Received: dtype={dt}")
    return dt


def compute_fans(
    shape: Sequence[int], input_axes: Sequence[int] | None = None, output_axes: Sequence[int] | None = None
) -> tuple[int, int]:
    """Computes `(fan_in, fan_out)` for a weight shape, as Keras does.

    Args:
        shape: The weight shape. Rank 2 is `(in, out)`; higher ranks are convolution
            kernels `(*receptive_field, in, out)`.
        input_axes: Optional axes whose product is fan_in (given with `output_axes`).
        output_axes: Optional axes whose product is fan_out.

    Returns:
        A tuple `(fan_in, fan_out)` of ints.
    """
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return int(math.prod(shape[a] for a in input_axes)), int(math.prod(shape[a] for a in output_axes))
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive_field = math.prod(shape[:-2])
    return int(shape[-2] * receptive_field), int(shape[-1] * receptive_field)


class Initializer:
    """Base class of all initializers.

    Subclasses implement `__call__(shape, dtype=None)` returning a numpy array, and
    `get_config()` when their constructor takes arguments.

    Example:

    >>> class Halves(Initializer):
    ...     def __call__(self, shape, dtype=None):
    ...         return np.full(shape, 0.5, dtype=dtype or "float32")
    """

    def __call__(self, shape: int | Sequence[int], dtype: Any = None) -> np.ndarray:
        raise NotImplementedError("Initializer subclasses must implement `__call__(shape, dtype=None)`.")

    def get_config(self) -> dict:
        """Returns the constructor arguments as a JSON-serializable dict."""
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Initializer:
        """Builds an initializer from the output of `get_config()`."""
        return cls(**config)

    def clone(self) -> Initializer:
        return self.__class__.from_config(self.get_config())


class Zeros(Initializer):
    """Initializes to 0."""

    def __call__(self, shape: int | Sequence[int], dtype: Any = None) -> np.ndarray:
        return np.zeros(_standardize_shape(shape), dtype=_dtype(dtype))


class Ones(Initializer):
    """Initializes to 1."""

    def __call__(self, shape: int | Sequence[int], dtype: Any = None) -> np.ndarray:
        return np.ones(_standardize_shape(shape), dtype=_dtype(dtype))


class Constant(Initializer):
    """Initializes to a constant.

    Args:
        value: A Python scalar (or an array that broadcasts to the requested shape).
    """

    def __init__(self, value: Any = 0.0) -> None:
        self.value = value

    def __call__(self, shape: int | Sequence[int], dtype: Any = None) -> np.ndarray:
        return np.full(_standardize_shape(shape), self.value, dtype=_dtype(dtype))

    def get_config(self) -> dict:
        value = self.value
        if isinstance(value, np.ndarray):
            # Keras's encoding of arrays inside configs.
            value = {
                "class_name": "__numpy__",
                "config": {"value": value.tolist(), "dtype": str(value.dtype)},
            }
        elif isinstance(value, np.generic):
            value = value.item()
        return {"value": value}

    @classmethod
    def from_config(cls, config: dict) -> Constant:
        value = config["value"]
        if isinstance(value, dict) and value.get("class_name") == "__numpy__":
            value = np.asarray(value["config"]["value"], dtype=value["config"]["dtype"])
        return cls(value)


class Identity(Initializer):
    """Initializes a 2D weight to `gain` times the identity matrix (rectangular allowed).

    Args:
        gain: Multiplicative factor.
    """

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def __call__(self, shape: int | Sequence[int], dtype: Any = None) -> np.ndarray:
        shape = _standardize_shape(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity can only initialize 2D matrices. Received: shape={shape}")
        return (self.gain * np.eye(*shape)).astype(_dtype(dtype))

    def get_config(self) -> dict:
        return {"gain": self.gain}


def _serialize_seed(seed: Any) -> Any:
    if isinstance(seed, kg_random.SeedGenerator):
        return {
            "module": "keras.random",
            "class_name": "SeedGenerator",
            "config": seed.get_config(),
            "registered_name": None,
        }
    return seed


class RandomInitializer(Initializer):
    """Base of the random initializers: holds the seed.

    Args:
        seed: `None`, an int, or a `kgraph.random.SeedGenerator`.
    """

    def __init__(self, seed: int | kg_random.SeedGenerator | None = None) -> None:
        self._init_seed = seed
        if isinstance(seed, dict) and seed.get("class_name") == "SeedGenerator":
            seed = kg_random.SeedGenerator.from_config(seed["config"])
        if seed is None:
            seed = kg_random.make_seed()
        elif isinstance(seed, bool) or not isinstance(seed, int | np.integer | kg_random.SeedGenerator):
            raise ValueError(
                f"`seed` must be an integer or a `kgraph.random.SeedGenerator`. Received: seed={seed!r}"
            )
        self.seed = seed

    def _rng(self) -> np.random.Generator:
        if isinstance(self.seed, kg_random.SeedGenerator):
            return np.random.default_rng(self.seed.next())
        return np.random.default_rng(int(self.seed))

    def get_config(self) -> dict:
        return {"seed": _serialize_seed(self._init_seed)}


def _truncated_normal(
    rng: np.random.Generator, shape: tuple[int, ...], mean: float, stddev: float
) -> np.ndarray:
    """Normal samples, those beyond two standard deviations redrawn (as Keras's truncated_normal)."""
    z = rng.standard_normal(shape)
    outside = np.abs(z) > 2.0
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > 2.0
    return mean + stddev * z


class RandomNormal(RandomInitializer):
    """Draws from a normal distribution.

    Args:
        mean: Mean of the distribution.
        stddev: Standard deviation of the distribution.
        seed: `None`, an int, or a `kgraph.random.SeedGenerator`.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Any = None) -> None:
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape: int | Sequence[int], dtype: Any = None) -> np.ndarray:
        dt = _float_dtype(dtype)
        return self._rng().normal(self.mean, self.stddev, _standardize_shape(shape)).astype(dt)

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomInitializer):
    """Draws from a normal distribution, redrawing values more than two stddevs from the mean.

    Args:
        mean: Mean of the untruncated distribution.
        stddev: Standard deviation of the untruncated distribution.
        seed: `None`, an int, or a `kgraph.random.SeedGenerator`.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Any = None) -> None:
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape: int | Sequence[int], dtype: Any = None) -> np.ndarray:
        dt = _float_dtype(dtype)
        return _truncated_normal(self._rng(), _standardize_shape(shape), self.mean, self.stddev).astype(dt)

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class RandomUniform(RandomInitializer):
    """Draws from a uniform distribution on `[minval, maxval)`.

    Args:
        minval: Lower bound.
        maxval: Upper bound.
        seed: `None`, an int, or a `kgraph.random.SeedGenerator`.
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: Any = None) -> None:
        self.minval = minval
        self.maxval = maxval
        super().__init__(seed=seed)

    def __call__(self, shape: int | Sequence[int], dtype: Any = None) -> np.ndarray:
        dt = _float_dtype(dtype)
        return self._rng().uniform(self.minval, self.maxval, _standardize_shape(shape)).astype(dt)

    def get_config(self) -> dict:
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


class VarianceScaling(RandomInitializer):
    """Scales the spread of the values to the shape of the weight.

    With `n` the fan chosen by `mode`, samples have variance `scale / n`: from a normal
    truncated at two stddevs (`'truncated_normal'`), a plain normal
    (`'untruncated_normal'`), or a uniform on `[-sqrt(3 * scale / n), sqrt(3 * scale / n)]`.

    Args:
        scale: Positive scaling factor.
        mode: One of `'fan_in'`, `'fan_out'`, `'fan_avg'`.
        distribution: One of `'truncated_normal'` (`'normal'` is an alias),
            `'untruncated_normal'`, `'uniform'`.
        seed: `None`, an int, or a `kgraph.random.SeedGenerator`.
        input_axes: Optional axes that make fan_in (with `output_axes`).
        output_axes: Optional axes that make fan_out.
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: Any = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ) -> None:
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be a positive float. Received: scale={scale}")
        if mode not in self._MODES:
            raise ValueError(f"Invalid `mode` argument: {mode!r}. Expected one of {list(self._MODES)}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(
                f"Invalid `distribution` argument: {distribution!r}. "
                f"Expected one of {list(self._DISTRIBUTIONS)}"
            )
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.input_axes = input_axes
        self.output_axes = output_axes
        super().__init__(seed=seed)

    def variance(self, shape: int | Sequence[int]) -> float:
        """Returns the target variance `scale / n` for a weight of this shape."""
        fan_in, fan_out = compute_fans(_standardize_shape(shape), self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, fan)

    def __call__(self, shape: int | Sequence[int], dtype: Any = None) -> np.ndarray:
        dt = _float_dtype(dtype)
        shape = _standardize_shape(shape)
        variance = self.variance(shape)
        rng = self._rng()
        if self.distribution == "truncated_normal":
            values = _truncated_normal(rng, shape, 0.0, math.sqrt(variance) / _TRUNCATED_STDDEV)
        elif self.distribution == "untruncated_normal":
            values = rng.normal(0.0, math.sqrt(variance), shape)
        else:
            limit = math.sqrt(3.0 * variance)
            values = rng.uniform(-limit, limit, shape)
        return values.astype(dt)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class _FixedVarianceScaling(VarianceScaling):
    """A VarianceScaling whose scale, mode and distribution are fixed by the class."""

    _PRESET: tuple[float, str, str]

    def __init__(
        self,
        seed: Any = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ) -> None:
        scale, mode, distribution = self._PRESET
        super().__init__(scale, mode, distribution, seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self) -> dict:
        return {
            "seed": _serialize_seed(self._init_seed),
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class GlorotNormal(_FixedVarianceScaling):
    """Glorot (Xavier) normal: truncated normal with stddev `sqrt(2 / (fan_in + fan_out))`."""

    _PRESET = (1.0, "fan_avg", "truncated_normal")


class GlorotUniform(_FixedVarianceScaling):
    """Glorot (Xavier) uniform: uniform on `[-limit, limit]`, `limit = sqrt(6 / (fan_in + fan_out))`."""

    _PRESET = (1.0, "fan_avg", "uniform")


class HeNormal(_FixedVarianceScaling):
    """He normal: truncated normal with stddev `sqrt(2 / fan_in)`."""

    _PRESET = (2.0, "fan_in", "truncated_normal")


class HeUniform(_FixedVarianceScaling):
    """He uniform: uniform on `[-limit, limit]`, `limit = sqrt(6 / fan_in)`."""

    _PRESET = (2.0, "fan_in", "uniform")


class LecunNormal(_FixedVarianceScaling):
    """Lecun normal: truncated normal with stddev `sqrt(1 / fan_in)`."""

    _PRESET = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_FixedVarianceScaling):
    """Lecun uniform: uniform on `[-limit, limit]`, `limit = sqrt(3 / fan_in)`."""

    _PRESET = (1.0, "fan_in", "uniform")


class Orthogonal(RandomInitializer):
    """Initializes to a random orthogonal matrix (times `gain`).

    The weight is viewed as a matrix of `prod(shape[:-1])` rows and `shape[-1]` columns;
    its rows are orthonormal if there are fewer rows than columns, else its columns are.

    Args:
        gain: Multiplicative factor.
        seed: `None`, an int, or a `kgraph.random.SeedGenerator`.
    """

    def __init__(self, gain: float = 1.0, seed: Any = None) -> None:
        self.gain = gain
        super().__init__(seed=seed)

    def __call__(self, shape: int | Sequence[int], dtype: Any = None) -> np.ndarray:
        dt = _float_dtype(dtype)
        shape = _standardize_shape(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a tensor of rank 2 or more. Received: shape={shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        # Sign fix on R's diagonal makes Q uniformly distributed (Haar measure).
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dt)

    def get_config(self) -> dict:
        return {**super().get_config(), "gain": self.gain}


# Snake-case names, bound to the classes as in `keras.initializers`.
zeros = Zeros
ones = Ones
constant = Constant
identity = Identity
IdentityInitializer = Identity
random_normal = RandomNormal
truncated_normal = TruncatedNormal
random_uniform = RandomUniform
variance_scaling = VarianceScaling
glorot_normal = GlorotNormal
glorot_uniform = GlorotUniform
he_normal = HeNormal
he_uniform = HeUniform
lecun_normal = LecunNormal
lecun_uniform = LecunUniform
orthogonal = Orthogonal
OrthogonalInitializer = Orthogonal

_CLASSES = (
    Initializer,
    Zeros,
    Ones,
    Constant,
    Identity,
    RandomNormal,
    TruncatedNormal,
    RandomUniform,
    VarianceScaling,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    Orthogonal,
)
ALL_OBJECTS: dict[str, type[Initializer]] = {
    **{cls.__name__: cls for cls in _CLASSES},
    "initializer": Initializer,
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "identity": Identity,
    "random_normal": RandomNormal,
    "truncated_normal": TruncatedNormal,
    "random_uniform": RandomUniform,
    "variance_scaling": VarianceScaling,
    "glorot_normal": GlorotNormal,
    "glorot_uniform": GlorotUniform,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "lecun_normal": LecunNormal,
    "lecun_uniform": LecunUniform,
    "orthogonal": Orthogonal,
    # Aliases Keras also accepts.
    "IdentityInitializer": Identity,
    "OrthogonalInitializer": Orthogonal,
    "normal": RandomNormal,
    "uniform": RandomUniform,
    "one": Ones,
    "zero": Zeros,
}


def serialize(initializer: Initializer) -> dict:
    """Returns the Keras-format config dict of an initializer.

    The dict has Keras's keys (`module`, `class_name`, `config`, `registered_name`), so
    it can be read back by Keras as well as by `deserialize`.
    """
    cls = type(initializer)
    builtin = ALL_OBJECTS.get(cls.__name__) is cls
    return {
        "module": "keras.initializers" if builtin else cls.__module__,
        "class_name": cls.__name__,
        "config": initializer.get_config(),
        "registered_name": None if builtin else cls.__name__,
    }


def _lookup(names: Sequence[str | None], custom_objects: dict | None) -> type[Initializer]:
    """Finds a class by the first of `names` known to `custom_objects`, else by the last name."""
    for name in names:
        if custom_objects and name in custom_objects:
            return custom_objects[name]
    name = names[-1]
    if name not in ALL_OBJECTS:
        raise ValueError(f"Unknown initializer: {name!r}. Valid names are: {sorted(ALL_OBJECTS)}")
    return ALL_OBJECTS[name]


def deserialize(config: dict | str, custom_objects: dict | None = None) -> Initializer:
    """Builds an initializer from a name or from a config dict made by `serialize`.

    Args:
        config: A name such as `'glorot_uniform'`, or a dict with `class_name` and `config`.
        custom_objects: Optional dict mapping names to custom initializer classes.

    Raises:
        ValueError: If the name is unknown.
    """
    if isinstance(config, str):
        return _lookup([config], custom_objects)()
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not deserialize initializer config: {config!r}")
    cls = _lookup([config.get("registered_name"), config["class_name"]], custom_objects)
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier: Any) -> Callable | None:
    """Retrieves an initializer from a name, a config dict, a class, a callable or an array.

    Args:
        identifier: `None`, a string name, a config dict, an `Initializer` class or
            instance, a function `fn(shape, dtype=None)`, or a numpy array whose values
            are returned (for a matching shape) when called.

    Returns:
        An initializer (or the callable given), or `None` for `None`.

    Raises:
        ValueError: If the identifier cannot be interpreted.

    Example:

    >>> get("he_normal")
    <kgraph.initializers.HeNormal object at ...>
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict | str):
        return deserialize(identifier)
    if isinstance(identifier, np.ndarray | np.generic):
        values = np.asarray(identifier)

        def initialize_from_array(shape: int | Sequence[int], dtype: Any = None) -> np.ndarray:
            if _standardize_shape(shape) != values.shape:
                raise ValueError(
                    f"Expected `shape` to be {values.shape} for an array used as initializer. "
                    f"Received: shape={shape}"
                )
            return values.astype(_dtype(dtype))

        return initialize_from_array
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r}")
