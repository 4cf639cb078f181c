"""One function per page experiment; each returns a :class:`Result` of tidy DataFrames.

The pages and the CLI (``python -m engine``) both call these through :data:`REGISTRY`.
"""

from __future__ import annotations

import importlib

from engine.experiments.common import REGISTRY, Result, experiment

#: Modules that register experiments, in page order.
MODULES = ("gradients", "initialization", "batchnorm", "dropout", "schedules", "early_stopping", "recipe")

for _m in MODULES:
    importlib.import_module(f"engine.experiments.{_m}")
importlib.import_module("engine.experiments.ladders")  # depth ladder and add-one-in (Home, Full recipe)

__all__ = ["REGISTRY", "Result", "experiment", "run"]


def run(name: str, **params) -> Result:
    """Run experiment ``name`` with ``params`` (unknown names raise ValueError)."""
    if name not in REGISTRY:
        raise ValueError(f"experiment must be one of {', '.join(REGISTRY)}; got {name!r}")
    return REGISTRY[name](**params)
