"""`kgraph.ops`: a numpy-like namespace that runs eagerly on arrays and traces on symbolic tensors.

Every function maps onto primitive IR ops (`dispatch.apply_op`): given numpy arrays it computes with the ops'
numpy definitions and returns arrays; given a symbolic tensor it adds nodes to the graph being traced. Layers,
activations, losses, metrics and optimizers are all written with these functions; convolution and pooling
(`ops.nn`) are compositions of window ops.
"""

from kgraph.ops.activation_ops import *  # noqa: F403
from kgraph.ops.array_ops import *  # noqa: F403
from kgraph.ops.axis_ops import *  # noqa: F403
from kgraph.ops.composed_ops import *  # noqa: F403
from kgraph.ops.nn import average_pool, conv, conv_transpose, depthwise_conv, max_pool, separable_conv  # noqa: F401
