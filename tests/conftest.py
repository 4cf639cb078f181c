"""Shared fixtures: the optional ``torch`` module, the golden reference files, BLAS threads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# The engine multiplies small matrices: BLAS threads only fight over the shared cores (a 15-epoch
# run measured 1 s single-threaded vs 39 s with OpenBLAS's default threads on a loaded 2-core box).
# Environment first, so subprocesses (the CLI tests) inherit it; threadpoolctl for this process.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
try:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
    pass

# AppTest runs pages in this process: compute there too (serve.compute's worker processes are tested
# in tests/serve/test_compute.py and, through a real server, by the browser tests).
os.environ.setdefault("TRAINING_EXPLORER_WORKERS", "0")
os.environ.setdefault("TRAINING_EXPLORER_WARM", "0")  # serve.settings reads it once, at import
# Pages reach the class store by TRAINING_EXPLORER_DB_URL: a throwaway SQLite file for this test
# run, never the user's own (tests/classroom/ builds its own stores, on PostgreSQL too).
if "TRAINING_EXPLORER_DB_URL" not in os.environ:
    import tempfile

    _db_dir = tempfile.mkdtemp(prefix="training-explorer-tests-")
    os.environ["TRAINING_EXPLORER_DB_URL"] = f"sqlite:///{_db_dir}/classroom.db"

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"


def in_ci() -> bool:
    """True when the environment says CI (``CI=true``, as GitHub Actions and .ci/run set)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_torch():
    """Import torch for a live comparison, or skip; with ``CI=true`` a missing torch FAILS.

    So CI can never pass by silently skipping every comparison against PyTorch.
    """
    try:
        import torch as _torch
    except ImportError as e:
        msg = f"torch is not importable ({e}); install the CPU wheel: pip install torch==2.13.0"
        if in_ci():
            pytest.fail(f"CI=true requires the live PyTorch comparisons: {msg}", pytrace=False)
        pytest.skip(msg)
    _torch.set_num_threads(1)
    return _torch


@pytest.fixture(scope="session")
def torch():
    """The torch module for live parity checks (see :func:`require_torch`)."""
    return require_torch()


@pytest.fixture(scope="session")
def golden():
    """Loader for ``tests/golden/<name>.json`` (written by tests/golden/make_golden.py)."""
    cache = {}

    def load(name: str) -> dict:
        if name not in cache:
            path = GOLDEN / f"{name}.json"
            assert path.exists(), f"{path} is missing: run python tests/golden/make_golden.py"
            cache[name] = json.loads(path.read_text())
        return cache[name]

    return load


@pytest.fixture(scope="session")
def torch_refs(torch):
    """tests/golden/make_golden.py as a module (its ``torch_*`` reference functions); needs torch."""
    from tests.golden import make_golden

    return make_golden
