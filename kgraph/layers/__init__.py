"""Keras layers, compiled: each composes kgraph.ops; none holds a kernel."""

from kgraph.layers.core.activation import Activation
from kgraph.layers.core.dense import Dense
from kgraph.layers.core.dropout import Dropout
from kgraph.layers.core.input_layer import Input, InputLayer
from kgraph.layers.input_spec import InputSpec
from kgraph.layers.layer import Layer
from kgraph.layers.merging.merge import Add, Concatenate, add, concatenate
from kgraph.layers.reshaping.flatten import Flatten
from kgraph.layers.reshaping.reshape import Reshape

__all__ = [
    "Activation",
    "Add",
    "Concatenate",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "InputLayer",
    "InputSpec",
    "Layer",
    "Reshape",
    "add",
    "concatenate",
]
