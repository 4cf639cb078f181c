"""The app's runtime: settings, compute workers, memory housekeeping, warm-up, a websocket client.

Nothing here draws: ``ui`` (Streamlit drawing) and the pages build on it, and it imports neither.

- :mod:`serve.settings`: the environment variables, read once into ``SETTINGS``.
- :mod:`serve.compute`: where runs compute (worker processes beside the server, or in-process).
- :mod:`serve.memory`, :mod:`serve.system`: per-process set-up, portable across OSes.
- :mod:`serve.client`: a Streamlit websocket client (the warm-up's and the load test's).
- :mod:`serve.warm`: opens every page once so that default views are cached before students come.
"""

from __future__ import annotations

from serve.settings import SETTINGS, Settings

_done = False


def setup_process(settings: Settings = SETTINGS) -> None:
    """Once per process: at most ``settings.blas_threads`` BLAS threads.

    The server process runs it when ``ui`` is imported, each compute worker when it starts.
    """
    global _done
    if _done:
        return
    _done = True
    from serve import system

    system.limit_blas(settings.blas_threads)
