"""Keras-compatible callbacks (``annc.callbacks`` ≙ ``keras.callbacks``).

Callbacks reach the model only through the object they are handed (``self.model``), so this
package never imports ``annc.models``.
"""
from __future__ import annotations

from .callback import Callback
from .callback_list import CallbackList
from .early_stopping import EarlyStopping
from .history import History
from .lambda_callback import LambdaCallback
from .learning_rate_scheduler import LearningRateScheduler
from .progbar_logger import ProgbarLogger
from .terminate_on_nan import TerminateOnNaN

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ProgbarLogger",
    "TerminateOnNaN",
]
