"""Process-wide source of randomness.

Every unseeded random choice in kgraph (initializer seeds, dropout seeds of compiled
kernels, shuffling) is drawn from one numpy `Generator` held here, so a single call to
`kgraph.utils.set_random_seed` makes a whole program reproducible.
"""

from __future__ import annotations

import numpy as np

# Seeds are handed to compiled kernels as int32, so keep them in [1, 2**31 - 1).
_SEED_HIGH = 2**31 - 1

_generator: np.random.Generator = np.random.default_rng()
_global_seed: int | None = None


def global_generator() -> np.random.Generator:
    """Returns the process-wide numpy `Generator`.

    Returns:
        The generator that unseeded kgraph randomness draws from. It is replaced by
        `set_global_seed`, so fetch it again rather than keeping a reference.
    """
    return _generator


def set_global_seed(seed: int) -> None:
    """Re-seeds the process-wide generator.

    Args:
        seed: A non-negative Python integer.

    Raises:
        ValueError: If `seed` is not an integer.
    """
    global _generator, _global_seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"Expected `seed` to be an integer. Received: seed={seed!r} (of type {type(seed)})")
    _global_seed = int(seed)
    _generator = np.random.default_rng(_global_seed)


def get_global_seed() -> int | None:
    """Returns the seed last given to `set_global_seed`, or `None` if it was never called."""
    return _global_seed


def make_seed() -> int:
    """Draws a fresh integer seed from the process-wide generator.

    Returns:
        An int in `[1, 2**31 - 1)`, small enough for an int32 seed argument.
    """
    return int(_generator.integers(1, _SEED_HIGH))


class SeedGenerator:
    """A stream of seeds, for random ops that must differ on every call.

    An integer seed fixes the values of a random op for every call; a `SeedGenerator`
    instead yields a new seed each time `next()` is called, reproducibly when it was
    itself built from an integer seed.

    Args:
        seed: Optional integer. When `None`, one is drawn from the global generator.
        name: Optional name, kept for serialization.

    Example:

    >>> gen = SeedGenerator(1337)
    >>> a, b = gen.next(), gen.next()
    >>> a != b
    True
    """

    def __init__(self, seed: int | None = None, name: str | None = None) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
            raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}")
        self._initial_seed = seed
        self.name = name or "seed_generator"
        self._rng = np.random.default_rng(make_seed() if seed is None else int(seed))

    def next(self) -> int:
        """Returns the next seed of the stream."""
        return int(self._rng.integers(1, _SEED_HIGH))

    def get_config(self) -> dict:
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> SeedGenerator:
        return cls(**config)
