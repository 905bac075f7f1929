"""annc.models: model classes (keras.models)."""
from .sequential import Sequential

__all__ = ["Sequential"]
