"""Warm start: open every page of a server once, so that its default views are computed before
students arrive.

Each page opens with ``?run=1``, so its training sections are computed too, and shared through
the result cache (``ui.runner``): students see real training results at once instead of a
"Train" button. The warm-up is a Streamlit websocket client (:mod:`serve.client`) that runs each
page exactly as a browser would, so it warms exactly the calls the default view makes. It learns
the pages from the server itself (the ``new_session`` message lists them).

In the server: the first page a visitor opens calls :func:`start_in_background` (through
``ui.controls.page_setup``), which starts the compute workers and a warm-up thread talking to
this process over loopback, once per process. ``TRAINING_EXPLORER_WARM=0`` switches that off.

From outside: ``python -m serve.warm http://127.0.0.1:8501`` warms a running server, e.g. each
replica right after it is healthy; the exit status is 1 if a page failed.

As a readiness probe: ``python -m serve.warm --ready-file /tmp/ready URL`` warms the server the
first time and, when every page warmed, writes the file; from then on it only checks that the
server answers its health check. So a replica says "ready" only after its default views are
computed (or found in the shared result store), and a probe after that costs one HTTP request.

Failures are logged (logger ``serve.warm``, level WARNING: the server's log shows them) and
returned; a warm-up never takes the server down.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from pathlib import Path

from serve import compute, system
from serve.client import Session, fetch_cookies
from serve.settings import SETTINGS

log = logging.getLogger(__name__)

#: Seconds one page may take (its training sections included).
PAGE_TIMEOUT = 300.0
#: URL parameter that, set to 1, trains every section of a page as it opens (``?run=1``; the
#: pages read it as ``ui.controls.RUN_PARAM``).
RUN_PARAM = "run"
RUN_QUERY = f"{RUN_PARAM}=1"


async def _warm(base: str, timeout: float) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    session = Session(base, timeout)
    todo, seen = [""], set()  # the home page first: its run announces every page
    try:
        while todo:
            page = todo.pop(0)
            seen.add(page)
            name = "/" + page
            try:
                out[name] = round(await session.open(page, RUN_QUERY, timeout), 2)
                log.info("warm-up %s: %.2f s", name, out[name])
            except Exception as e:  # noqa: BLE001 - a warm-up must never take the server down
                out[name] = f"{type(e).__name__}: {e}"
                log.warning("warm-up %s failed: %s", name, out[name])
                await session.close()  # the next page starts on a fresh session
            todo += [p for p in session.app_pages if p not in seen and p not in todo]
    finally:
        await session.close()
    return out


def warm(base: str, timeout: float = PAGE_TIMEOUT) -> dict[str, float | str]:
    """Open every page of the server at ``base`` once, one after the other.

    Returns each page's seconds, or the error that stopped it (also logged as a warning).
    """
    return asyncio.run(_warm(base.rstrip("/"), timeout))


_started = threading.Lock()
_thread: threading.Thread | None = None


def start_in_background(port: int, path: str = "") -> threading.Thread | None:
    """Once per process: start the compute workers and the warm-up of this process's server,
    which listens on ``port`` under the base path ``path``.

    Returns the warm-up thread; None after the first call, when ``TRAINING_EXPLORER_WARM=0``, or
    when this process does not listen on ``port`` (AppTest runs pages without a server).
    """
    global _thread
    if not _started.acquire(blocking=False):
        return None
    compute.start()  # workers and memory upkeep; the workers import the engine meanwhile
    if not SETTINGS.warm or not system.listens_on(port):
        return None
    path = path.strip("/")
    base = f"http://127.0.0.1:{port}" + (f"/{path}" if path else "")
    _thread = threading.Thread(target=warm, args=(base,), name="warm-up", daemon=True)
    _thread.start()
    return _thread


def main(argv: list[str] | None = None) -> int:
    """``python -m serve.warm [--ready-file PATH] [URL]``: warm the server at URL (default
    http://127.0.0.1:8501); 0 when every page warmed. With ``--ready-file``: 0 at once when the
    file exists and the server is healthy, else warm and write the file on success."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    ready = None
    if argv[:1] == ["--ready-file"] and len(argv) >= 2:
        ready, argv = Path(argv[1]), argv[2:]
    base = (argv[0] if argv else "http://127.0.0.1:8501").rstrip("/")
    if ready is not None and ready.exists():
        try:
            fetch_cookies(base, timeout=5)
            return 0
        except OSError as e:
            log.warning("not ready: %s", e)
            return 1
    results = warm(base)
    ok = bool(results) and all(isinstance(v, float) for v in results.values())
    if ok and ready is not None:
        ready.write_text(f"{base}\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
