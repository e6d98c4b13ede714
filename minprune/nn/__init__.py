"""Layers and containers, shaped like ``torch.nn``."""
from .module import IncompatibleKeys, Module, Parameter, RemovableHandle
from .layers import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Identity,
                     LeakyReLU, Linear, MaxPool2d, ModuleList, ReLU, Sequential, Sigmoid, Tanh, leaf_layers)

__all__ = ["Module", "Parameter", "RemovableHandle", "IncompatibleKeys", "Linear", "Conv2d", "BatchNorm1d",
           "BatchNorm2d", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Flatten", "MaxPool2d", "AvgPool2d",
           "AdaptiveAvgPool2d", "Dropout", "Identity", "Sequential", "ModuleList"]
from .transformer import GELU, Embedding, LayerNorm, MultiheadAttention, TransformerBlock, causal_mask

__all__ += ["Embedding", "LayerNorm", "GELU", "MultiheadAttention", "TransformerBlock", "causal_mask"]
