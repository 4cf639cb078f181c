"""Streamlit-aware helpers shared by the pages: URL-bound controls, Altair charts, cached runs.

Importing ``ui`` limits BLAS to one thread per server process (``TRAINING_EXPLORER_BLAS_THREADS``
overrides it): the engine multiplies small matrices, many sessions share the cores, and OpenBLAS
threads spinning on a busy 2-core machine made a 3 s run take 64 s. The environment variables
cover a NumPy not yet imported; threadpoolctl covers one already loaded (it only sees loaded
libraries, hence the NumPy import first).
"""

import os

_THREADS = os.environ.get("TRAINING_EXPLORER_BLAS_THREADS", "1") or "1"
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, _THREADS)

import numpy  # noqa: E402,F401 - load BLAS so that threadpoolctl can see it
import pyarrow  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

threadpool_limits(int(_THREADS))

# Arrow's own allocator (mimalloc) keeps what the charts' and tables' Arrow data freed, apart
# from malloc and out of reach of malloc_trim; the system allocator gives it back with the rest.
if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
    pyarrow.set_memory_pool(pyarrow.system_memory_pool())
