"""The primitive ops, grouped by fusion kind. Importing this package registers them all."""

from kgraph.ir.ops import elementwise, gather, linalg, reduction, shape, source  # noqa: F401
from kgraph.ir.ops import window  # noqa: F401
from kgraph.ir.ops import recurrent  # noqa: F401
