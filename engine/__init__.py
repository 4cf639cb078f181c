"""Training Explorer engine: a small NumPy deep-learning library that really computes.

Pure NumPy (pandas only in :mod:`engine.experiments`); no Streamlit, no Altair.
"""

import os
import sys

#: How long OpenBLAS's idle threads spin after a call before they sleep, as 2^n cycles. Its
#: default (2^28, about 0.1 s) keeps the second core busy doing nothing while the optimiser's
#: own thread needs it (:meth:`engine.fused.FusedOptimizer.stepping`); 2^4 puts them to sleep at once
#: (waking them costs tens of microseconds; a width-512 matmul, hundreds). OpenBLAS reads this
#: when NumPy loads it, so it only applies when the engine is imported before NumPy
#: (``python -m engine``, the benchmarks; the app runs one BLAS thread per process, see
#: :mod:`ui`, and has no idle threads); :data:`engine.fused.QUIET_BLAS` says whether it did.
BLAS_SPIN = "4"
if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", BLAS_SPIN)
#: The spin OpenBLAS runs with (what the environment said when the engine was first imported;
#: None: OpenBLAS's default).
blas_spin = os.environ.get("OPENBLAS_THREAD_TIMEOUT")

__all__ = [
    "init",
    "layers",
    "network",
    "losses",
    "optim",
    "fused",
    "schedules",
    "early_stopping",
    "datasets",
    "train",
]
