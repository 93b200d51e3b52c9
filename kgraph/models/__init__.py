"""Models: Sequential and the functional Model, with Keras's training API compiled by kgraph."""

from kgraph.models.model import Model
from kgraph.models.sequential import Sequential

__all__ = ["Model", "Sequential"]
