"""Training Explorer engine: a small NumPy deep-learning library that really computes.

Pure NumPy (pandas only in :mod:`engine.experiments`); no Streamlit, no Altair.
"""

__all__ = [
    "init",
    "layers",
    "network",
    "losses",
    "optim",
    "schedules",
    "early_stopping",
    "datasets",
    "train",
]
