"""A real Streamlit server and a real Chromium for browser tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "tests" / "browser" / "screenshots"
#: The test servers' logs (outside the repository).
LOGS = Path(tempfile.gettempdir()) / "training-explorer-browser-logs"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _missing(what: str):
    """A missing browser is a failure in CI and a skip elsewhere."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is required when CI=true (scripts/setup-dev.sh installs it)")
    pytest.skip(f"{what} not available")


@contextlib.contextmanager
def streamlit_server(log_name: str = "server.log", env: dict | None = None):
    """``streamlit run`` on a free loopback port, fresh; yields the base URL."""
    port = _free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    log = open(LOGS / log_name, "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "streamlit_app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        # the real server computes in its worker processes (tests/conftest.py turns them off for AppTest)
        env={**{k: v for k, v in os.environ.items() if k != "TRAINING_EXPLORER_WORKERS"}, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"streamlit did not start; see {log.name}")
        time.sleep(0.3)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def server():
    """One fresh server for the session's page tests; yields its base URL."""
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory):
    """Two servers sharing one class store (a SQLite file): as two replicas of one host."""
    db = tmp_path_factory.mktemp("class") / "classroom.db"
    env = {"TRAINING_EXPLORER_DB_URL": f"sqlite:///{db}", "TRAINING_EXPLORER_POLL_S": "1"}
    with streamlit_server("server-a.log", env) as a, streamlit_server("server-b.log", env) as b:
        yield a, b, str(db)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        _missing("Debian's chromium")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    yield pg
    ctx.close()
