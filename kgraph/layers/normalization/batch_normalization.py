"""BatchNormalization: normalizes each feature by batch statistics in training, moving statistics otherwise.

In training the layer also moves its statistics toward the batch's (`moving = moving * momentum + batch * (1 -
momentum)`, with the biased batch variance, as Keras computes them); the writes are `assign` nodes of the
compiled training step, so the update happens inside it. Both modes apply `x * inv + (beta - mean * inv)` with
`inv = gamma / sqrt(variance + epsilon)`, Keras's form: at inference `inv` and the offset are per-feature
columns, which fuse into the epilogue of the Dense or convolution before.
"""

from __future__ import annotations

from kgraph import config, constraints, initializers, ops, regularizers
from kgraph.layers.input_spec import InputSpec
from kgraph.layers.layer import Layer
from kgraph.layers.weight_args import serialize_optional


class BatchNormalization(Layer):
    """Keras's BatchNormalization.

    Args:
        axis: the feature axis (default -1, the last; 1 for `channels_first` images).
        momentum: the momentum of the moving statistics.
        epsilon: added to the variance before its square root.
        center, scale: whether to learn an offset `beta` and a scale `gamma`.
        beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer:
            initializers of the four weights (zeros, ones, zeros, ones).
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: as for Dense's weights.

    Weights, in order: gamma (if `scale`), beta (if `center`), moving_mean and moving_variance (not
    trainable). With `training=True` and a trainable layer, batch statistics are used and the moving ones
    updated; else the moving statistics are used.

    Example:
        >>> layer = BatchNormalization()
        >>> layer(np.ones((4, 3), "float32"), training=True).shape
        (4, 3)
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        renorm=False,
        renorm_clipping=None,
        renorm_momentum=0.99,
        synchronized=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(axis, int):
            raise ValueError(
                f"BatchNormalization '{self.name}': `axis` must be an integer, received axis={axis!r}."
            )
        if renorm:
            raise ValueError(f"BatchNormalization '{self.name}': renorm=True is not supported.")
        if synchronized:
            raise ValueError(
                "Argument synchronized=True is only supported with the TensorFlow backend. "
                f"Received: synchronized={synchronized} (layer '{self.name}')"
            )
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.renorm, self.renorm_clipping, self.renorm_momentum = renorm, renorm_clipping, renorm_momentum
        self.synchronized = synchronized
        self.supports_masking = True
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def build(self, input_shape) -> None:
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"Axis {self.axis} is out of bounds for input shape {tuple(input_shape)}. "
                f"Received: axis={self.axis} (layer '{self.name}')"
            )
        features = input_shape[self.axis]
        if features is None:
            raise ValueError(
                f"BatchNormalization '{self.name}': the feature axis {self.axis} must be defined, received "
                f"input_shape={tuple(input_shape)}."
            )
        shape = (features,)
        if self.scale:
            self.gamma = self.add_weight(
                shape,
                self.gamma_initializer,
                name="gamma",
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
            )
        if self.center:
            self.beta = self.add_weight(
                shape,
                self.beta_initializer,
                name="beta",
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
            )
        self.moving_mean = self.add_weight(
            shape, self.moving_mean_initializer, name="moving_mean", trainable=False
        )
        self.moving_variance = self.add_weight(
            shape, self.moving_variance_initializer, name="moving_variance", trainable=False
        )
        self.input_spec = InputSpec(ndim=rank, axes={self.axis: features})
        self.built = True

    def call(self, inputs, training=None, mask=None):
        rank = ops.ndim(inputs)
        axis = self.axis % rank
        reduction_axes = tuple(a for a in range(rank) if a != axis)
        # Per-feature values broadcast against the inputs as they are when the feature axis is the last.
        param_shape = None if axis == rank - 1 else tuple(-1 if a == axis else 1 for a in range(rank))

        def per_feature(v):
            return v if param_shape is None else ops.reshape(v, param_shape)

        if training and self.trainable:
            mean, variance = self._moments(inputs, mask, reduction_axes)
            features = (ops.shape(inputs)[axis],)
            batch_mean, batch_variance = ops.reshape(mean, features), ops.reshape(variance, features)
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * m + batch_mean * (1.0 - m))
            self.moving_variance.assign(self.moving_variance * m + batch_variance * (1.0 - m))
        else:
            mean, variance = per_feature(self.moving_mean), per_feature(self.moving_variance)
        inv = ops.rsqrt(ops.add(variance, self.epsilon))
        if self.scale:
            inv = ops.multiply(inv, per_feature(self.gamma))
        offset = ops.negative(ops.multiply(mean, inv))
        if self.center:
            offset = ops.add(offset, per_feature(self.beta))
        return ops.add(ops.multiply(inputs, inv), offset)

    def _moments(self, inputs, mask, axes):
        """Batch mean and biased variance, kept as (1, ..., features). A mask (the inputs' shape less the
        last axis) leaves the steps it masks out of both, as Keras does."""
        if mask is None:
            mean = ops.mean(inputs, axes, keepdims=True)
            # The variance's derivative through the mean is -2 * mean(x - mean) = 0 exactly: stopping it
            # spares the backward pass a column reduction (and the kernel that computes it).
            centered = ops.subtract(inputs, ops.stop_gradient(mean))
            return mean, ops.mean(ops.square(centered), axes, keepdims=True)
        if ops.ndim(mask) != ops.ndim(inputs) - 1:
            raise ValueError(
                "The mask provided should be one dimension less than the inputs. Received: "
                f"mask.shape={ops.shape(mask)}, inputs.shape={ops.shape(inputs)} (layer '{self.name}')"
            )
        weights = ops.broadcast_to(ops.expand_dims(mask, -1), ops.shape(inputs))
        count = ops.add(ops.sum(weights, axes, keepdims=True), config.epsilon())
        mean = ops.divide(ops.sum(ops.multiply(inputs, weights), axes, keepdims=True), count)
        squared = ops.square(ops.multiply(ops.subtract(inputs, mean), weights))
        return mean, ops.divide(ops.sum(squared, axes, keepdims=True), count)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": serialize_optional(regularizers, self.beta_regularizer),
            "gamma_regularizer": serialize_optional(regularizers, self.gamma_regularizer),
            "beta_constraint": serialize_optional(constraints, self.beta_constraint),
            "gamma_constraint": serialize_optional(constraints, self.gamma_constraint),
            "synchronized": self.synchronized,
            "renorm": self.renorm,
            "renorm_clipping": self.renorm_clipping,
            "renorm_momentum": self.renorm_momentum,
        }
