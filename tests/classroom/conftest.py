"""Backends for the class-store tests: a SQLite file, and a throwaway PostgreSQL cluster.

The cluster is Debian's ``postgresql`` (``initdb`` + ``pg_ctl``) in a temp dir on a free loopback
port, started once per test session; each test gets its own database. PostgreSQL refuses to run as
root, so as root the server runs as the ``postgres`` user (``runuser``). With ``CI=true`` a missing
PostgreSQL fails the tests instead of skipping them (scripts/setup-dev.sh installs it).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from classroom.store import Store
from tests.conftest import in_ci

QUESTIONS = {
    "init_depth": ("shrinks to ~0", "stays near 1", "explodes"),
    "dropout_gap": ("wider gap", "narrower gap", "within seed noise"),
    "odd": ("' OR 1=1 --", "漢字 ✓", "a\nb", "Robert'); DROP TABLE class_answers;--"),
}


def _missing(why: str):
    if in_ci():
        pytest.fail(f"CI=true requires PostgreSQL for the class-store tests: {why}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {why}")


def pg_bindir() -> Path | None:
    """The directory with ``initdb`` and ``pg_ctl``: ``pg_config --bindir``, else the newest Debian one."""
    found: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False).stdout
        found.append(Path(out.strip()))

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name)) or (0,)

    found += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    return next((d for d in found if (d / "initdb").is_file() and (d / "pg_ctl").is_file()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgCluster:
    """The test cluster: its admin URL, and stop/start for outage tests."""

    url: str
    stop: Callable[[], None]
    start: Callable[[], None]


@pytest.fixture(scope="session")
def pg_cluster():
    """A running throwaway PostgreSQL cluster (see the module docstring)."""
    bindir = pg_bindir()
    if bindir is None:
        _missing("no initdb/pg_ctl (install Debian's postgresql: apt-get install -y postgresql)")
    prefix: list[str] = []
    as_root = os.geteuid() == 0
    # As root, under /tmp: the postgres user must reach the directory (TMPDIR may be root's own).
    tmp = Path(tempfile.mkdtemp(prefix="te-pg-", dir="/tmp" if as_root else None))
    if as_root:  # PostgreSQL will not run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(tmp, ignore_errors=True)
            _missing("running as root and there is no 'postgres' user to run the server as")
        if not shutil.which("runuser"):
            shutil.rmtree(tmp, ignore_errors=True)
            _missing("running as root and runuser (util-linux) is missing")
        os.chown(tmp, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log = tmp / "data", tmp / "server.log"

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=timeout, check=False)

    init = run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
    if init.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        _missing(f"initdb failed: {init.stderr.strip()[-500:]}")

    def pg_ctl(*args: str) -> subprocess.CompletedProcess:
        return run(str(bindir / "pg_ctl"), "-D", str(data), *args)

    def options(port: int) -> str:
        return f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={tmp} -c max_connections=200"

    started = None
    for _ in range(3):  # a free port can be taken between the probe and the start
        port = _free_port()
        started = pg_ctl("-l", str(log), "-o", options(port), "-w", "-t", "60", "start")
        if started.returncode == 0:
            break
    if started is None or started.returncode != 0:
        text = log.read_text(errors="replace")[-800:] if log.exists() else started.stderr
        shutil.rmtree(tmp, ignore_errors=True)
        _missing(f"pg_ctl start failed: {text}")

    def stop() -> None:
        assert pg_ctl("-m", "fast", "-w", "stop").returncode == 0

    def start() -> None:
        done = pg_ctl("-l", str(log), "-o", options(port), "-w", "-t", "60", "start")
        assert done.returncode == 0, done.stderr

    try:
        yield PgCluster(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", stop, start)
    finally:
        pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(pg_cluster) -> str:
    """The test cluster's admin URL (database ``postgres``)."""
    return pg_cluster.url


@contextmanager
def new_pg_database(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server, dropped afterwards; yields its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')  # the name is ours, not input
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url(pg_server):
    """One database for the session's PostgreSQL tests (each test works in rooms of its own)."""
    with new_pg_database(pg_server) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def db_url(backend, request, tmp_path) -> str:
    """The database of a test: a new SQLite file, or the session's PostgreSQL database.

    Creating a PostgreSQL database takes ~0.5 s (a checkpoint), so the tests share one; each
    creates its own rooms and checks only those.
    """
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'class.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def make_store(db_url):
    """``make_store(**kw)``: a Store on this test's database (the test QUESTIONS unless given)."""
    made: list[Store] = []

    def make(**kw) -> Store:
        kw.setdefault("questions", QUESTIONS)
        store = Store(db_url, **kw)
        made.append(store)
        return store

    yield make
    for store in made:
        store.dispose()


@pytest.fixture
def store(make_store) -> Store:
    return make_store()
