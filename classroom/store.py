"""The class store: rooms, anonymous answers and reveals, on SQLAlchemy 2 Core.

Backends:

- SQLite (default): one file, created on first use, in WAL mode with a busy timeout, so the server
  processes of one host share it. Writes take the lock up front (``BEGIN IMMEDIATE``).
- PostgreSQL by URL (``postgresql+psycopg://user:pass@host/db``) for replicas on several hosts.

The URL comes from the ``url`` argument, else ``TRAINING_EXPLORER_DB_URL``, else a SQLite file
under ``$XDG_DATA_HOME/training-explorer`` (``~/.local/share/training-explorer``).

The store owns its schema: ``MIGRATIONS`` is an ordered list, applied on start under a lock (an
advisory lock on PostgreSQL, the write lock on SQLite) and recorded in ``schema_migrations``, so two
processes starting at once apply each migration once. Adding a table is one more entry.

Rules: one answer per (room, question, session), the last one wins until the question is revealed,
then it is locked. Every method returns only after its transaction committed. Every statement
binds its parameters. Bad input raises ``ValueError`` naming the field; a wrong teacher key raises
``PermissionError``; an unreachable database raises ``StoreUnavailable``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql, sqlite

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MIGRATIONS",
    "Follow",
    "JoinLimiter",
    "Migration",
    "Room",
    "RoomStatus",
    "Store",
    "StoreUnavailable",
    "default_url",
    "new_session_id",
    "normalise_code",
]

ENV_URL = "TRAINING_EXPLORER_DB_URL"

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud and typed on phones
CODE_LENGTH = 6
TEACHER_KEY_BYTES = 32  # 256 bits from secrets
SESSION_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
MAX_QUESTION_ID = 100
MAX_CHOICE = 500
MAX_PAGE = 200
DEFAULT_TTL = timedelta(hours=24)
SQLITE_BUSY_TIMEOUT_S = 15.0
PG_CONNECT_TIMEOUT_S = 5
_PG_MIGRATION_LOCK = 0x7E57C1A5  # pg_advisory_xact_lock key for schema migrations


def _journal_mode_wal(cur, timeout_s: float = SQLITE_BUSY_TIMEOUT_S) -> str:
    """Switch a SQLite connection to WAL and return the journal mode it reports.

    Switching a fresh file needs an exclusive lock, and SQLite answers "database is locked" at
    once, without its busy handler, when another connection is switching it at the same moment
    (two processes opening a new class store together). Retry that for up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    delay = 0.001
    while True:
        try:
            return cur.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(2 * delay, 0.05)


class StoreUnavailable(RuntimeError):
    """The database cannot be reached (down, locked past the timeout, or refusing connections)."""


# ---------------------------------------------------------------------------------------------
# Schema and migrations
# ---------------------------------------------------------------------------------------------


def _m1_class_tables(conn: sa.Connection) -> None:
    """Rooms, who joined, answers (one per room, question, session) and reveals."""
    md = sa.MetaData()
    sa.Table(
        "class_rooms",
        md,
        sa.Column("code", sa.String(CODE_LENGTH), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False),  # sha256 hex of the teacher key
        sa.Column(
            "created_at", sa.BigInteger, nullable=False
        ),  # Unix time in microseconds (exact round trip to datetime)
        sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
        sa.Column("closed_at", sa.BigInteger),
        sa.Column("follow_page", sa.String(MAX_PAGE)),
        sa.Column("follow_question", sa.String(MAX_QUESTION_ID)),
        sa.Column("follow_at", sa.BigInteger),
    )
    sa.Table(
        "class_members",
        md,
        sa.Column("room", sa.String(CODE_LENGTH), primary_key=True),
        sa.Column("session", sa.String(64), primary_key=True),
        sa.Column("joined_at", sa.BigInteger, nullable=False),
    )
    sa.Table(
        "class_answers",
        md,
        sa.Column("room", sa.String(CODE_LENGTH), primary_key=True),
        sa.Column("question", sa.String(MAX_QUESTION_ID), primary_key=True),
        sa.Column("session", sa.String(64), primary_key=True),
        sa.Column("choice", sa.String(MAX_CHOICE), nullable=False),
        sa.Column("first_at", sa.BigInteger, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    sa.Table(
        "class_reveals",
        md,
        sa.Column("room", sa.String(CODE_LENGTH), primary_key=True),
        sa.Column("question", sa.String(MAX_QUESTION_ID), primary_key=True),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    md.create_all(conn)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[sa.Connection], None]


def _m2_results(conn: sa.Connection) -> None:
    """Experiment results shared by the replicas (``classroom.results``): Arrow IPC + JSON, no pickle."""
    md = sa.MetaData()
    sa.Table(
        "result_cache",
        md,
        sa.Column("key", sa.String(64), primary_key=True),  # sha256 hex of experiment, params, engine
        sa.Column("experiment", sa.String(100), nullable=False),
        sa.Column("params", sa.Text, nullable=False),  # JSON, sorted keys
        sa.Column("engine", sa.String(64), nullable=False),  # sha256 of the engine's source
        sa.Column("meta", sa.Text, nullable=False),  # JSON: table layout, summary, notes
        sa.Column("data", sa.LargeBinary, nullable=False),  # the tables' Arrow IPC streams
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False, index=True),
    )
    md.create_all(conn)


# Append only; never edit an applied entry (a replica may already have run it).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "class rooms, members, answers and reveals", _m1_class_tables),
    Migration(2, "shared experiment results", _m2_results),
)

_md = sa.MetaData()
schema_migrations = sa.Table(
    "schema_migrations",
    _md,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.BigInteger, nullable=False),
)

# Query-side views of the tables as the migrations leave them (lightweight: no DDL from these).
rooms = sa.table(
    "class_rooms",
    *(sa.column(c, sa.String) for c in ("code", "key_hash", "follow_page", "follow_question")),
    *(sa.column(c, sa.BigInteger) for c in ("created_at", "expires_at", "closed_at", "follow_at")),
)
members = sa.table("class_members", sa.column("room"), sa.column("session"), sa.column("joined_at", sa.BigInteger))
answers = sa.table(
    "class_answers",
    *(sa.column(c, sa.String) for c in ("room", "question", "session", "choice")),
    sa.column("first_at", sa.BigInteger),
    sa.column("at", sa.BigInteger),
)
reveals = sa.table("class_reveals", sa.column("room"), sa.column("question"), sa.column("at", sa.BigInteger))


# ---------------------------------------------------------------------------------------------
# Values handed out
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Room:
    """A new room. ``teacher_key`` is shown once, to the teacher; the store keeps only its hash."""

    code: str
    teacher_key: str = field(repr=False)
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class RoomStatus:
    """What the teacher sees about a room."""

    code: str
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    joined: int
    follow: Follow | None


@dataclass(frozen=True)
class Follow:
    """Where the teacher sends the class: a page, optionally its question."""

    page: str
    question_id: str | None
    at: datetime


def new_session_id() -> str:
    """A random anonymous student token (128 bits), to keep in the page URL after joining."""
    return secrets.token_urlsafe(16)


def default_url() -> str:
    """``TRAINING_EXPLORER_DB_URL``, else a SQLite file in the user's data directory."""
    url = os.environ.get(ENV_URL, "").strip()
    if url:
        return url
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'training-explorer' / 'classroom.db'}"


# ---------------------------------------------------------------------------------------------
# Input checks (before any SQL)
# ---------------------------------------------------------------------------------------------


def _shown(value: object) -> str:
    """A short, safe rendering of user input for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(str(value))} characters)"


def normalise_code(code: object) -> str:
    """The room code in canonical form (upper case, spaces and dashes dropped), or ValueError."""
    if not isinstance(code, str):
        raise ValueError(f"room code must be text, got {type(code).__name__}")
    canon = re.sub(r"[\s-]", "", code[:64]).upper()
    if len(code) > 64 or len(canon) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in canon):
        raise ValueError(
            f"room code must be {CODE_LENGTH} characters from {CODE_ALPHABET} (no 0, O, 1, I, L); got {_shown(code)}"
        )
    return canon


def _check_session(session_id: object) -> str:
    if not isinstance(session_id, str) or not SESSION_RE.fullmatch(session_id):
        raise ValueError("session id must be 16-64 characters from A-Z, a-z, 0-9, '_' and '-'")
    return session_id


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def _to_us(now: datetime | float | int) -> int:
    """A time as integer Unix microseconds: an aware datetime, or Unix seconds."""
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("now must be a timezone-aware datetime (UTC) or Unix seconds")
        return (now - _EPOCH) // _US
    if isinstance(now, int | float) and not isinstance(now, bool) and math.isfinite(now):
        return round(now * 1_000_000)
    raise ValueError(f"now must be a datetime or Unix seconds, got {_shown(now)}")


def _dt(us: int | None) -> datetime | None:
    return None if us is None else _EPOCH + int(us) * _US


def _options_of(value: object) -> tuple[str, ...]:
    opts = getattr(value, "options", value)
    if isinstance(opts, str) or not hasattr(opts, "__iter__"):
        raise ValueError(f"question options must be a sequence of strings, got {_shown(opts)}")
    opts = tuple(opts)
    if (
        not opts
        or not all(isinstance(o, str) and 0 < len(o) <= MAX_CHOICE for o in opts)
        or len(set(opts)) != len(opts)
    ):
        raise ValueError(f"question options must be distinct non-empty strings, got {_shown(opts)}")
    return opts


def _default_questions() -> Mapping[str, object]:
    try:
        from classroom.questions import QUESTIONS  # type: ignore[import-not-found]
    except ModuleNotFoundError as e:
        if e.name != "classroom.questions":
            raise
        return {}
    return QUESTIONS


# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------


class Store:
    """Rooms, answers and reveals in one database (see the module docstring).

    Thread-safe: keep one per process (e.g. ``st.cache_resource``); it holds a connection pool.

    ``questions`` maps question id -> its options (a sequence of strings, or an object with
    ``.options``); by default ``classroom.questions.QUESTIONS``. ``clock`` returns Unix seconds.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        questions: Mapping[str, object] | None = None,
        ttl: timedelta = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(ttl, timedelta) or ttl <= timedelta(0):
            raise ValueError(f"ttl must be a positive timedelta, got {_shown(ttl)}")
        self._ttl_us = ttl // _US
        self._clock = clock
        registry = _default_questions() if questions is None else questions
        self._options = {str(qid): _options_of(q) for qid, q in registry.items()}
        try:
            self._url = sa.make_url(url or default_url())
        except (exc.ArgumentError, TypeError) as e:
            raise ValueError(f"class store URL (or {ENV_URL}) is not a database URL: {e}") from None
        self._engine = self._make_engine(self._url)
        self._dialect = self._engine.dialect.name
        self._insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        self._writer = self._engine.execution_options(te_begin="IMMEDIATE")
        self._migrate()

    # -- engine --------------------------------------------------------------------------------

    @staticmethod
    def _make_engine(url: sa.URL) -> sa.Engine:
        backend = url.get_backend_name()
        if backend == "sqlite":
            if url.database in (None, "", ":memory:") or str(url.database).startswith("file::memory:"):
                raise ValueError("the SQLite class store needs a file (an in-memory database is lost on restart)")
            try:
                Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreUnavailable(
                    f"class store unavailable: cannot create the folder of {url.database}: {e}"
                ) from e
            engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn, _record):
                dbapi_conn.isolation_level = None  # SQLAlchemy's begin event below issues BEGIN
                cur = dbapi_conn.cursor()
                cur.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
                mode = _journal_mode_wal(cur)
                cur.close()
                if str(mode).lower() != "wal":
                    raise RuntimeError(
                        f"SQLite would not use WAL mode on {url.database} (journal mode {mode!r}): "
                        "a network filesystem? Use PostgreSQL there (TRAINING_EXPLORER_DB_URL)."
                    )

            @event.listens_for(engine, "begin")
            def _on_begin(conn):
                mode = conn.get_execution_options().get("te_begin")
                conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

            return engine
        if backend == "postgresql":
            if url.get_driver_name() != "psycopg":
                raise ValueError(
                    f"PostgreSQL URLs use the psycopg 3 driver: postgresql+psycopg://...; got {url.drivername!r}"
                )
            return sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S})
        raise ValueError(f"class store URL must be sqlite:///FILE or postgresql+psycopg://...; got backend {backend!r}")

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """A write transaction, committed on exit (SQLite: the write lock taken at BEGIN)."""
        with self._unavailable(), self._writer.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self._unavailable(), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _unavailable(self) -> Iterator[None]:
        try:
            yield
        except (exc.OperationalError, exc.InterfaceError) as e:
            where = self._url.render_as_string(hide_password=True)
            raise StoreUnavailable(f"class store unavailable ({where}): {e.orig or e}") from e

    def dispose(self) -> None:
        """Close the connection pool (the data stays)."""
        self._engine.dispose()

    def _now(self) -> int:
        return _to_us(self._clock())

    @property
    def backend(self) -> str:
        return self._dialect

    # -- schema --------------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._write() as conn:
            if self._dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            schema_migrations.create(conn, checkfirst=True)
            done = set(conn.execute(sa.select(schema_migrations.c.version)).scalars())
            for m in MIGRATIONS:
                if m.version not in done:
                    m.apply(conn)
                    conn.execute(
                        schema_migrations.insert().values(version=m.version, name=m.name, applied_at=self._now())
                    )

    def schema_version(self) -> int:
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.max(schema_migrations.c.version))).scalar() or 0)

    # -- checks --------------------------------------------------------------------------------

    def _question(self, question_id: object) -> str:
        if not isinstance(question_id, str) or not question_id or len(question_id) > MAX_QUESTION_ID:
            raise ValueError(f"question id must be a non-empty string of at most {MAX_QUESTION_ID} characters")
        if question_id not in self._options:
            raise ValueError(f"unknown question {_shown(question_id)}")
        return question_id

    def _choice(self, question_id: str, choice: object) -> str:
        options = self._options[question_id]
        if not isinstance(choice, str) or choice not in options:
            raise ValueError(f"choice for {question_id!r} must be one of {list(options)}; got {_shown(choice)}")
        return choice

    def _room(self, conn: sa.Connection, code: str, *, open_only: bool, lock: str | None = None) -> sa.Row:
        """The room's row, or ValueError if unknown, expired or (with open_only) closed.

        ``lock``: "share" (answers) or "update" (teacher writes) row lock on PostgreSQL, so a reveal or
        close waits for answers in flight and later answers see it. SQLite holds the write lock already.
        """
        query = sa.select(rooms).where(rooms.c.code == code)
        if lock is not None and self._dialect == "postgresql":
            query = query.with_for_update(read=lock == "share")
        row = conn.execute(query).first()
        if row is None:
            raise ValueError(f"no room {code}: check the code")
        if row.expires_at <= self._now():
            raise ValueError(f"room {code} has expired")
        if open_only and row.closed_at is not None:
            raise ValueError(f"room {code} is closed")
        return row

    @staticmethod
    def _teacher(row: sa.Row, teacher_key: object) -> None:
        given = _hash_key(teacher_key) if isinstance(teacher_key, str) and len(teacher_key) <= 256 else ""
        if not hmac.compare_digest(given.encode(), row.key_hash.encode()):
            raise PermissionError(f"wrong teacher key for room {row.code}")

    # -- teacher -------------------------------------------------------------------------------

    def create_room(self) -> Room:
        """A new room, open for the TTL (24 h by default). Also purges expired rooms."""
        now = self._now()
        self._purge(now)
        key = secrets.token_urlsafe(TEACHER_KEY_BYTES)
        for _ in range(20):
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            try:
                with self._write() as conn:
                    conn.execute(
                        rooms.insert().values(
                            code=code, key_hash=_hash_key(key), created_at=now, expires_at=now + self._ttl_us
                        )
                    )
            except exc.IntegrityError:  # code taken: draw another
                continue
            return Room(code=code, teacher_key=key, created_at=_dt(now), expires_at=_dt(now + self._ttl_us))
        raise RuntimeError("could not draw a free room code in 20 tries")

    def tally(self, code: str, question_id: str, teacher_key: str) -> dict[str, int]:
        """Answers per option, every option listed (zeros included), in the question's order."""
        code, question_id = normalise_code(code), self._question(question_id)
        with self._read() as conn:
            self._teacher(self._room(conn, code, open_only=False), teacher_key)
            rows = conn.execute(
                sa.select(answers.c.choice, sa.func.count())
                .where(answers.c.room == code, answers.c.question == question_id)
                .group_by(answers.c.choice)
            ).all()
        counts = dict.fromkeys(self._options[question_id], 0)
        counts.update({choice: int(n) for choice, n in rows})
        return counts

    def answered(self, code: str, question_id: str, teacher_key: str) -> int:
        """How many students answered the question."""
        return sum(self.tally(code, question_id, teacher_key).values())

    def joined(self, code: str, teacher_key: str) -> int:
        """How many students joined the room (by join or by answering)."""
        return self.status(code, teacher_key).joined

    def status(self, code: str, teacher_key: str) -> RoomStatus:
        """Times (expiry included), closed or not, students joined, and the current "follow me"."""
        code = normalise_code(code)
        with self._read() as conn:
            row = self._room(conn, code, open_only=False)
            self._teacher(row, teacher_key)
            joined = conn.execute(
                sa.select(sa.func.count()).select_from(members).where(members.c.room == code)
            ).scalar()
        return RoomStatus(
            code=code,
            created_at=_dt(row.created_at),
            expires_at=_dt(row.expires_at),
            closed_at=_dt(row.closed_at),
            joined=int(joined),
            follow=self._follow_of(row),
        )

    def reveal(self, code: str, question_id: str, teacher_key: str) -> None:
        """Show the answer to the class; answers to this question are locked from now on."""
        code, question_id = normalise_code(code), self._question(question_id)
        with self._write() as conn:
            self._teacher(self._room(conn, code, open_only=True, lock="update"), teacher_key)
            conn.execute(
                self._insert(reveals)
                .values(room=code, question=question_id, at=self._now())
                .on_conflict_do_nothing(index_elements=["room", "question"])
            )

    def follow(self, code: str, teacher_key: str, page: str, question_id: str | None = None) -> None:
        """Send the class to ``page`` (and its question): students read it with :meth:`following`."""
        code = normalise_code(code)
        if not isinstance(page, str) or not page or len(page) > MAX_PAGE or not page.isprintable():
            raise ValueError(f"page must be printable text of 1-{MAX_PAGE} characters")
        if question_id is not None:
            question_id = self._question(question_id)
        with self._write() as conn:
            self._teacher(self._room(conn, code, open_only=True, lock="update"), teacher_key)
            conn.execute(
                rooms.update()
                .where(rooms.c.code == code)
                .values(follow_page=page, follow_question=question_id, follow_at=self._now())
            )

    def close(self, code: str, teacher_key: str) -> None:
        """No more joins or answers; tally and export still work until the room expires."""
        code = normalise_code(code)
        with self._write() as conn:
            row = self._room(conn, code, open_only=False, lock="update")
            self._teacher(row, teacher_key)
            if row.closed_at is None:
                conn.execute(rooms.update().where(rooms.c.code == code).values(closed_at=self._now()))

    def export(self, code: str, teacher_key: str) -> pd.DataFrame:
        """Every answer: question, anonymous student number (1, 2, ... by first answer), choice, times (UTC)."""
        code = normalise_code(code)
        with self._read() as conn:
            self._teacher(self._room(conn, code, open_only=False), teacher_key)
            rows = conn.execute(
                sa.select(answers.c.question, answers.c.session, answers.c.choice, answers.c.first_at, answers.c.at)
                .where(answers.c.room == code)
                .order_by(answers.c.first_at, answers.c.question, answers.c.session)
            ).all()
            shown = dict(conn.execute(sa.select(reveals.c.question, reveals.c.at).where(reveals.c.room == code)).all())
        import pandas as pd  # here: a student process (and each spawned test worker) never needs it

        number: dict[str, int] = {}
        for r in rows:
            number.setdefault(r.session, len(number) + 1)
        df = pd.DataFrame(
            {
                "room": pd.Series([code] * len(rows), dtype="string"),
                "question": pd.Series([r.question for r in rows], dtype="string"),
                "student": pd.Series([number[r.session] for r in rows], dtype="int64"),
                "choice": pd.Series([r.choice for r in rows], dtype="string"),
                "first_answered_at": pd.to_datetime([r.first_at for r in rows], unit="us", utc=True),
                "answered_at": pd.to_datetime([r.at for r in rows], unit="us", utc=True),
                "revealed_at": pd.to_datetime([shown.get(r.question) for r in rows], unit="us", utc=True),
            }
        )
        return df.sort_values(["question", "student"], kind="stable", ignore_index=True)

    # -- students ------------------------------------------------------------------------------

    def join(self, code: str, session_id: str) -> str:
        """Record a student in an open room; returns the canonical code. Joining twice is one join."""
        code, session_id = normalise_code(code), _check_session(session_id)
        with self._write() as conn:
            self._room(conn, code, open_only=True, lock="share")
            self._add_member(conn, code, session_id)
        return code

    def answer(self, code: str, question_id: str, session_id: str, choice: str) -> None:
        """Record (or replace) this session's answer; ValueError once the question is revealed."""
        code, session_id = normalise_code(code), _check_session(session_id)
        question_id = self._question(question_id)
        choice = self._choice(question_id, choice)
        with self._write() as conn:
            self._room(conn, code, open_only=True, lock="share")
            if self._is_revealed(conn, code, question_id):
                raise ValueError(f"question {question_id!r} has been revealed: answers are locked")
            now = self._now()
            self._add_member(conn, code, session_id)
            ins = self._insert(answers).values(
                room=code, question=question_id, session=session_id, choice=choice, first_at=now, at=now
            )
            conn.execute(
                ins.on_conflict_do_update(
                    index_elements=["room", "question", "session"],
                    set_={"choice": ins.excluded.choice, "at": ins.excluded.at},
                )
            )

    def my_answer(self, code: str, question_id: str, session_id: str) -> str | None:
        """This session's recorded answer, or None (so a reload shows what was recorded)."""
        code, session_id = normalise_code(code), _check_session(session_id)
        question_id = self._question(question_id)
        with self._read() as conn:
            self._room(conn, code, open_only=False)
            return conn.execute(
                sa.select(answers.c.choice).where(
                    answers.c.room == code, answers.c.question == question_id, answers.c.session == session_id
                )
            ).scalar()

    def revealed(self, code: str, question_id: str) -> bool:
        code, question_id = normalise_code(code), self._question(question_id)
        with self._read() as conn:
            self._room(conn, code, open_only=False)
            return self._is_revealed(conn, code, question_id)

    def following(self, code: str) -> Follow | None:
        """The page (and question) the teacher sent the class to, or None; ValueError once closed."""
        code = normalise_code(code)
        with self._read() as conn:
            return self._follow_of(self._room(conn, code, open_only=True))

    # -- housekeeping --------------------------------------------------------------------------

    def purge(self, now: datetime | float | None = None) -> int:
        """Delete rooms expired at ``now`` (default: the clock) with their answers; returns how many."""
        return self._purge(self._now() if now is None else _to_us(now))

    def _purge(self, t: int) -> int:
        expired = sa.select(rooms.c.code).where(rooms.c.expires_at <= t).scalar_subquery()
        with self._write() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(rooms).where(rooms.c.expires_at <= t)).scalar()
            if n:
                for table in (answers, reveals, members):
                    conn.execute(table.delete().where(table.c.room.in_(expired)))
                conn.execute(rooms.delete().where(rooms.c.expires_at <= t))
        return int(n or 0)

    # -- helpers -------------------------------------------------------------------------------

    def _add_member(self, conn: sa.Connection, code: str, session_id: str) -> None:
        conn.execute(
            self._insert(members)
            .values(room=code, session=session_id, joined_at=self._now())
            .on_conflict_do_nothing(index_elements=["room", "session"])
        )

    @staticmethod
    def _is_revealed(conn: sa.Connection, code: str, question_id: str) -> bool:
        q = sa.select(reveals.c.at).where(reveals.c.room == code, reveals.c.question == question_id)
        return conn.execute(q).first() is not None

    @staticmethod
    def _follow_of(row: sa.Row) -> Follow | None:
        if row.follow_page is None:
            return None
        return Follow(page=row.follow_page, question_id=row.follow_question, at=_dt(row.follow_at))


class JoinLimiter:
    """Failed joins per browser session: after ``max_failures`` wrong codes within ``window_s``
    seconds, further tries are refused until the oldest failure leaves the window.

    Keep one per session (e.g. in ``st.session_state``) and join through it.
    """

    def __init__(self, max_failures: int = 5, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        if not isinstance(max_failures, int) or max_failures < 1:
            raise ValueError(f"max_failures must be an integer >= 1, got {_shown(max_failures)}")
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, got {_shown(window_s)}")
        self.max_failures, self.window_s, self._clock = max_failures, float(window_s), clock
        self._failures: list[float] = []

    def retry_after(self) -> float:
        """Seconds until the next try is allowed (0 when allowed now)."""
        now = self._clock()
        self._failures = [t for t in self._failures if now - t < self.window_s]
        if len(self._failures) < self.max_failures:
            return 0.0
        return self._failures[-self.max_failures] + self.window_s - now

    def join(self, store: Store, code: str, session_id: str) -> str:
        """``store.join`` unless locked out; a ValueError from it counts as a failure."""
        wait = self.retry_after()
        if wait > 0:
            raise ValueError(f"too many wrong room codes: try again in {math.ceil(wait)} s")
        try:
            canon = store.join(code, session_id)
        except ValueError:
            self._failures.append(self._clock())
            raise
        self._failures.clear()
        return canon
