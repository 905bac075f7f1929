"""annc.layers: Keras-compatible layers."""
from .base import Layer, Variable
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer, KerasTensor

__all__ = ["Layer", "Variable", "Input", "InputLayer", "KerasTensor", "Dense", "Activation",
           "Dropout", "Flatten"]
