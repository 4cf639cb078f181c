"""Experiment results shared by every server process of a class, in the class store's database.

A class spread over several replicas computes each view once: the first process to finish a run
writes its :class:`~engine.experiments.common.Result` here, and any process (another replica, or
this one after a restart) reads it back instead of training again.

- **Format.** Each table is an Arrow IPC stream (pandas dtypes, index, NaN and inf kept); the
  summary, the notes and the table names are JSON. Nothing is pickled, so whoever can write the
  database can at worst make a look-up miss, never run code here. A row that does not decode, or
  whose key columns disagree with the request, is ignored (and deleted).
- **Key.** sha256 of the experiment name, its parameters (JSON, sorted keys) and a hash of the
  engine's source (every ``engine/**/*.py`` file's bytes), so a code change never serves an old
  result.
- **Bounds.** Entries expire after ``ttl`` (7 days); past ``max_rows`` entries or ``max_bytes``
  of data the oldest go first; an entry over ``max_entry_bytes`` is not stored.
- **Exactness.** An entry is stored only if it decodes back to frames equal to the originals
  (``pd.testing.assert_frame_equal``) and a summary and notes equal to them, types included.

The table comes from the class store's migrations (``classroom.store.MIGRATIONS``). No Streamlit
import: ``ui.runner`` puts the per-process cache in front of this one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from classroom.store import Store, _to_us

__all__ = ["DEFAULT_TTL", "ResultStore", "decode", "encode", "engine_source_hash", "result_key"]

DEFAULT_TTL = timedelta(days=7)
MAX_ROWS = 5000
MAX_BYTES = 512 * 2**20
MAX_ENTRY_BYTES = 16 * 2**20
FORMAT = 2  # the layout of ``meta`` and ``data``; a row of another format is a miss

#: ``assert_frame_equal`` at its strictest: a RangeIndex must come back a RangeIndex (the default
#: "equiv" would accept an int64 index, which pages would then carry into their charts' data).
EXACT = {"check_index_type": True, "check_column_type": True, "check_frame_type": True, "check_exact": True}

ENGINE_ROOT = Path(__file__).resolve().parents[1] / "engine"

#: Query-side view of the table made by ``classroom.store._m2_results``.
results = sa.table(
    "result_cache",
    *(sa.column(c, sa.String) for c in ("key", "experiment", "params", "engine", "meta")),
    sa.column("data", sa.LargeBinary),
    sa.column("size", sa.BigInteger),
    sa.column("created_at", sa.BigInteger),
)


def _source_hash(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix().encode()
        data = path.read_bytes()
        h.update(b"%d:%s%d:" % (len(rel), rel, len(data)))
        h.update(data)
    return h.hexdigest()


@functools.cache
def engine_source_hash(root: Path = ENGINE_ROOT) -> str:
    """sha256 over every ``*.py`` file under ``root`` (paths and bytes); computed once per process."""
    return _source_hash(Path(root))


def params_json(params: dict) -> str:
    """The parameters as the key sees them: JSON with sorted keys."""
    return json.dumps(params, sort_keys=True)


def result_key(name: str, params: dict, engine: str) -> str:
    """The entry's key: sha256 hex of the experiment, its parameters and the engine's hash."""
    return hashlib.sha256(json.dumps([name, params_json(params), engine]).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Encoding: Arrow IPC per table + JSON
# ---------------------------------------------------------------------------------------------


def _ipc(df: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(df)  # a RangeIndex as metadata, any other index as columns
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _same(a, b) -> bool:
    """Equal, types included (a tuple is not a list), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def encode(result) -> tuple[str, bytes]:
    """``(meta JSON, data bytes)`` of a Result; ValueError if it would not come back exactly."""
    names, blobs = list(result.tables), [_ipc(df) for df in result.tables.values()]
    try:
        meta = json.dumps(
            {
                "format": FORMAT,
                "tables": [[n, len(b)] for n, b in zip(names, blobs, strict=True)],
                "summary": result.summary,
                "notes": [[str(n), getattr(n, "level", "info")] for n in result.notes],
            }
        )
    except TypeError as e:
        raise ValueError(f"the summary or notes are not JSON: {e}") from None
    data = b"".join(blobs)
    back = decode(meta, data)
    levels = [(str(n), getattr(n, "level", "info")) for n in result.notes]
    if not (_same(back.summary, result.summary) and [(str(n), n.level) for n in back.notes] == levels):
        raise ValueError("the summary or notes would not survive JSON exactly (a tuple, a non-str key?)")
    if list(back.tables) != names:
        raise ValueError("table names would not survive JSON")
    for n in names:
        try:
            pd.testing.assert_frame_equal(back.tables[n], result.tables[n], **EXACT)
        except AssertionError as e:
            raise ValueError(f"table {n!r} would not survive Arrow exactly: {e}") from None
    return meta, data


def decode(meta: str, data: bytes):
    """The Result stored as ``(meta, data)``; ValueError if they are not a well-formed entry."""
    from engine.experiments.common import Note, Result

    try:
        info = json.loads(meta)
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            raise ValueError("not an entry of this format")
        summary, notes, layout = info["summary"], info["notes"], info["tables"]
        if not isinstance(summary, dict) or not isinstance(notes, list):
            raise ValueError("summary must be an object and notes a list")
        notes = [Note(*n) if isinstance(n, list) and len(n) == 2 and isinstance(n[0], str) else n for n in notes]
        if not all(isinstance(n, Note) and isinstance(n.level, str) for n in notes):
            raise ValueError("notes must be [text, level] pairs")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ValueError("data must be bytes")
        view, tables, at = memoryview(data), {}, 0
        for item in layout:
            name, length = item
            if not isinstance(name, str) or isinstance(length, bool) or not isinstance(length, int) or length < 0:
                raise ValueError("bad table layout")
            if at + length > len(view):
                raise ValueError("data shorter than its layout")
            df = pa.ipc.open_stream(pa.py_buffer(view[at : at + length])).read_all().to_pandas()
            if len(df.columns) == 0:  # pd.DataFrame()'s columns, which Arrow gives back as Index([], int64)
                df.columns = pd.RangeIndex(0)
            tables[name] = df
            at += length
        if at != len(view):
            raise ValueError("data longer than its layout")
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError, pa.ArrowException) as e:
        raise ValueError(f"not a stored result: {type(e).__name__}: {e}") from None
    return Result(tables=tables, summary=summary, notes=list(notes))


# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------


class ResultStore:
    """Results by (experiment, parameters, engine source) in the class store's database.

    ``url`` as for :class:`classroom.store.Store` (default ``TRAINING_EXPLORER_DB_URL``). Raises
    ``StoreUnavailable`` when the database cannot be reached (here or in any call), ``ValueError``
    for a bad URL or bound. Thread-safe; keep one per process. ``clock`` returns Unix seconds.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        ttl: timedelta = DEFAULT_TTL,
        max_rows: int = MAX_ROWS,
        max_bytes: int = MAX_BYTES,
        max_entry_bytes: int = MAX_ENTRY_BYTES,
        engine: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(ttl, timedelta) or ttl <= timedelta(0):
            raise ValueError(f"ttl must be a positive timedelta, got {ttl!r}")
        for field, value in (("max_rows", max_rows), ("max_bytes", max_bytes), ("max_entry_bytes", max_entry_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field} must be a positive integer, got {value!r}")
        self._ttl_us = ttl // timedelta(microseconds=1)
        self.max_rows, self.max_bytes, self.max_entry_bytes = max_rows, max_bytes, max_entry_bytes
        self.engine = engine or engine_source_hash()
        self._clock = clock
        # The class store migrates the schema (results table included) and owns the connections.
        self._store = Store(url, questions={}, clock=clock)

    def dispose(self) -> None:
        self._store.dispose()

    def key(self, name: str, params: dict) -> str:
        return result_key(name, params, self.engine)

    def _now(self) -> int:
        return _to_us(self._clock())

    def _fresh(self, key: str):
        return sa.and_(results.c.key == key, results.c.created_at > self._now() - self._ttl_us)

    def contains(self, name: str, params: dict) -> bool:
        """True when an unexpired entry for this run is stored (its content is not checked)."""
        with self._store._read() as conn:
            return conn.execute(sa.select(results.c.key).where(self._fresh(self.key(name, params)))).first() is not None

    def get(self, name: str, params: dict):
        """The stored Result of this run, or None (none, expired, or a row that does not decode)."""
        key = self.key(name, params)
        with self._store._read() as conn:
            row = conn.execute(
                sa.select(
                    results.c.experiment, results.c.params, results.c.engine, results.c.meta, results.c.data
                ).where(self._fresh(key))
            ).first()
        if row is None:
            return None
        try:
            if (row.experiment, row.params, row.engine) != (name, params_json(params), self.engine):
                raise ValueError("its key columns do not match the request")
            return decode(row.meta, bytes(row.data))
        except (ValueError, TypeError):
            with self._store._write() as conn:
                conn.execute(sa.delete(results).where(results.c.key == key))
            return None

    def put(self, name: str, params: dict, result) -> bool:
        """Store ``result`` of this run; False (nothing stored) if it is too big or not exact.

        Never call it for a run cut short by the time cap. Also deletes expired entries and, past
        the bounds, the oldest ones.
        """
        try:
            meta, data = encode(result)
        except ValueError:
            return False
        size = len(data) + len(meta.encode())
        if size > self.max_entry_bytes:
            return False
        row = {
            "key": self.key(name, params),
            "experiment": name,
            "params": params_json(params),
            "engine": self.engine,
            "meta": meta,
            "data": data,
            "size": size,
            "created_at": self._now(),
        }
        with self._store._write() as conn:
            ins = self._store._insert(results).values(**row)
            conn.execute(ins.on_conflict_do_update(index_elements=["key"], set_={k: ins.excluded[k] for k in row}))
            self._evict(conn)
        return True

    def _evict(self, conn: sa.Connection) -> int:
        gone = conn.execute(sa.delete(results).where(results.c.created_at <= self._now() - self._ttl_us)).rowcount
        newest_first = conn.execute(
            sa.select(results.c.key, results.c.size).order_by(results.c.created_at.desc(), results.c.key)
        ).all()
        total, drop = 0, []
        for i, (key, size) in enumerate(newest_first):
            total += int(size or 0)
            if i >= self.max_rows or total > self.max_bytes:
                drop.append(key)
        for start in range(0, len(drop), 500):
            conn.execute(sa.delete(results).where(results.c.key.in_(drop[start : start + 500])))
        return gone + len(drop)

    def purge(self) -> int:
        """Delete expired entries and those past the bounds; returns how many went."""
        with self._store._write() as conn:
            return self._evict(conn)

    def count(self) -> int:
        with self._store._read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(results)).scalar() or 0)
