"""`keras.callbacks`: training callbacks with Keras's hooks and semantics.

The training loop calls a `CallbackList`, which hands every hook to each callback in turn. Logs arrive as
dicts of Python floats that are already running averages. `training` holds the base class and the callbacks
that watch training; `saving` those that write to disk.
"""

from kgraph.callbacks.saving import BackupAndRestore, CSVLogger, ModelCheckpoint
from kgraph.callbacks.training import (
    Callback,
    CallbackList,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ProgbarLogger,
    ReduceLROnPlateau,
    TerminateOnNaN,
)

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]
