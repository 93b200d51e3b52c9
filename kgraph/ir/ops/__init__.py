"""The primitive ops, grouped by fusion kind. Importing this package registers them all."""

from kgraph.ir.ops import (  # noqa: F401
    elementwise,
    gather,
    linalg,
    recurrent,
    reduction,
    shape,
    source,
    window,
)
