"""Keras layers, compiled: each composes kgraph.ops; none holds a kernel."""

from kgraph.layers.attention.attention import Attention
from kgraph.layers.attention.multi_head_attention import MultiHeadAttention
from kgraph.layers.convolutional.conv import Conv1D, Conv2D
from kgraph.layers.convolutional.conv_transpose import Conv1DTranspose, Conv2DTranspose
from kgraph.layers.convolutional.depthwise_conv import DepthwiseConv1D, DepthwiseConv2D
from kgraph.layers.convolutional.separable_conv import SeparableConv1D, SeparableConv2D
from kgraph.layers.core.activation import Activation
from kgraph.layers.core.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from kgraph.layers.core.dense import Dense
from kgraph.layers.core.dropout import Dropout
from kgraph.layers.core.embedding import Embedding
from kgraph.layers.core.input_layer import Input, InputLayer
from kgraph.layers.core.lambda_layer import Lambda
from kgraph.layers.core.masking import Masking
from kgraph.layers.core.rescaling import Identity, Rescaling
from kgraph.layers.input_spec import InputSpec
from kgraph.layers.layer import Layer
from kgraph.layers.merging.average import Average, average
from kgraph.layers.merging.dot import Dot, dot
from kgraph.layers.merging.maximum import Maximum, maximum
from kgraph.layers.merging.merge import Add, Concatenate, add, concatenate
from kgraph.layers.merging.minimum import Minimum, minimum
from kgraph.layers.merging.multiply import Multiply, multiply
from kgraph.layers.merging.subtract import Subtract, subtract
from kgraph.layers.normalization.batch_normalization import BatchNormalization
from kgraph.layers.normalization.layer_normalization import LayerNormalization
from kgraph.layers.normalization.unit_normalization import UnitNormalization
from kgraph.layers.pooling.global_pooling import (
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
)
from kgraph.layers.pooling.pooling import AveragePooling1D, AveragePooling2D, MaxPooling1D, MaxPooling2D
from kgraph.layers.preprocessing.normalization import Normalization
from kgraph.layers.regularization.activity_regularization import ActivityRegularization
from kgraph.layers.regularization.gaussian_dropout import GaussianDropout
from kgraph.layers.regularization.gaussian_noise import GaussianNoise
from kgraph.layers.regularization.spatial_dropout import SpatialDropout1D, SpatialDropout2D, SpatialDropout3D
from kgraph.layers.reshaping.cropping1d import Cropping1D
from kgraph.layers.reshaping.cropping2d import Cropping2D
from kgraph.layers.reshaping.flatten import Flatten
from kgraph.layers.reshaping.permute import Permute
from kgraph.layers.reshaping.repeat_vector import RepeatVector
from kgraph.layers.reshaping.reshape import Reshape
from kgraph.layers.reshaping.up_sampling1d import UpSampling1D
from kgraph.layers.reshaping.up_sampling2d import UpSampling2D
from kgraph.layers.reshaping.zero_padding1d import ZeroPadding1D
from kgraph.layers.reshaping.zero_padding2d import ZeroPadding2D
from kgraph.layers.rnn.bidirectional import Bidirectional
from kgraph.layers.rnn.gru import GRU
from kgraph.layers.rnn.lstm import LSTM
from kgraph.layers.rnn.simple_rnn import SimpleRNN
from kgraph.layers.rnn.time_distributed import TimeDistributed

# Keras's aliases of the convolution and pooling layers.
Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D

__all__ = [
    "Attention",
    "MultiHeadAttention",
    "Bidirectional",
    "Embedding",
    "GRU",
    "LSTM",
    "Masking",
    "SimpleRNN",
    "TimeDistributed",
    "Activation",
    "Lambda",
    "Identity",
    "Rescaling",
    "ELU",
    "LeakyReLU",
    "PReLU",
    "ReLU",
    "Softmax",
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
    "Average",
    "average",
    "Dot",
    "dot",
    "Maximum",
    "maximum",
    "Minimum",
    "minimum",
    "Multiply",
    "Normalization",
    "multiply",
    "Subtract",
    "subtract",
    "BatchNormalization",
    "LayerNormalization",
    "GaussianDropout",
    "GaussianNoise",
    "ActivityRegularization",
    "UnitNormalization",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "Cropping1D",
    "Cropping2D",
    "Permute",
    "RepeatVector",
    "UpSampling1D",
    "UpSampling2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "Conv1D",
    "Conv2D",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "MaxPooling1D",
    "MaxPooling2D",
    "Convolution1D",
    "Convolution2D",
    "Convolution1DTranspose",
    "Convolution2DTranspose",
    "SeparableConvolution1D",
    "SeparableConvolution2D",
    "MaxPool1D",
    "MaxPool2D",
    "AvgPool1D",
    "AvgPool2D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "add",
    "concatenate",
]
