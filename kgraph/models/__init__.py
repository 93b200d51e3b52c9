"""Models: Sequential and the functional Model, with Keras's training API compiled by kgraph."""

from kgraph.models.model import Model
from kgraph.models.sequential import Sequential
from kgraph.saving.saving_api import load_model, model_from_json, save_model

__all__ = ["Model", "Sequential", "load_model", "model_from_json", "save_model"]
