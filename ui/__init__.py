"""Streamlit-aware helpers shared by the pages: URL-bound controls, Altair charts, cached runs.

Importing ``ui`` limits BLAS to one thread per server process (``TRAINING_EXPLORER_BLAS_THREADS``
overrides it): the engine multiplies small matrices, many sessions share the cores, and
OpenBLAS threads that spin on a busy 2-core machine made a 1 s run take 30 s or more.
"""

import os

from threadpoolctl import threadpool_limits

threadpool_limits(int(os.environ.get("TRAINING_EXPLORER_BLAS_THREADS", "1") or 1))
