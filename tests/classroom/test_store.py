"""The class store's rules, on SQLite and on a real PostgreSQL (the same tests, both backends)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from classroom.store import (
    CODE_ALPHABET,
    MIGRATIONS,
    JoinLimiter,
    Store,
    StoreUnavailable,
    new_session_id,
    normalise_code,
)
from tests.classroom.conftest import QUESTIONS

GARBAGE = [
    "' OR 1=1 --",
    "'; DROP TABLE class_answers; --",
    "x" * 10_000,
    "漢字かな",
    "é\u0301\u200b",
    "",
    "   ",
    "\x00",
    None,
    0,
    123456,
    3.5,
    b"ABCDEF",
    ["a"],
]


def short(value: object) -> str:
    """A readable test id for a possibly 10 kB parameter."""
    text = repr(value)
    return text if len(text) <= 20 else f"{text[:12]}...len{len(str(value))}"


def _each(values, *calls):
    """(value, thunk) for every value and call: one store, many bad inputs."""
    return [(v, (lambda c=c, v=v: c(v))) for v in values for c in calls]


class Clock:
    """A settable clock (Unix seconds) for expiry tests."""

    def __init__(self, t: float = 1_000_000_000.0):  # 2001: the past, so purges here touch no real room
        self.t = t

    def __call__(self) -> float:
        return self.t


def raw_counts(url: str, code: str) -> dict[str, int]:
    """Rows per table for one room, read with a separate engine (not through the store)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t: conn.execute(sa.text(f"SELECT count(*) FROM {t} WHERE {col} = :c"), {"c": code}).scalar()
                for t, col in [
                    ("class_rooms", "code"),
                    ("class_members", "room"),
                    ("class_answers", "room"),
                    ("class_reveals", "room"),
                ]
            }
    finally:
        engine.dispose()


def test_room_code_and_teacher_key(store, db_url):
    room = store.create_room()
    assert len(room.code) == 6 and set(room.code) <= set(CODE_ALPHABET)
    assert not set("0O1IL") & set(CODE_ALPHABET)
    assert len(base64.urlsafe_b64decode(room.teacher_key + "=" * (-len(room.teacher_key) % 4))) * 8 >= 128
    assert room.teacher_key not in repr(room)
    assert room.expires_at - room.created_at == timedelta(hours=24)
    # Only the key's sha256 is stored: the key itself appears nowhere in the row.
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM class_rooms WHERE code = :c"), {"c": room.code}).mappings().one()
    engine.dispose()
    assert room.teacher_key not in {str(v) for v in row.values()}
    assert row["key_hash"] == hashlib.sha256(room.teacher_key.encode()).hexdigest()
    assert len({store.create_room().code for _ in range(20)}) == 20


def test_last_answer_wins_until_reveal_then_locked(store):
    room, a, b = store.create_room(), new_session_id(), new_session_id()
    store.answer(room.code, "init_depth", a, "explodes")
    store.answer(room.code, "init_depth", a, "shrinks to ~0")  # changes her mind
    store.answer(room.code, "init_depth", b, "shrinks to ~0")
    store.answer(room.code, "dropout_gap", a, "within seed noise")
    assert store.tally(room.code, "init_depth", room.teacher_key) == {
        "shrinks to ~0": 2,
        "stays near 1": 0,
        "explodes": 0,
    }
    assert store.answered(room.code, "init_depth", room.teacher_key) == 2
    assert store.my_answer(room.code, "init_depth", a) == "shrinks to ~0"
    assert store.my_answer(room.code, "init_depth", new_session_id()) is None
    assert not store.revealed(room.code, "init_depth")

    store.reveal(room.code, "init_depth", room.teacher_key)
    store.reveal(room.code, "init_depth", room.teacher_key)  # idempotent
    assert store.revealed(room.code, "init_depth")
    assert not store.revealed(room.code, "dropout_gap")
    with pytest.raises(ValueError, match="revealed"):
        store.answer(room.code, "init_depth", a, "explodes")
    with pytest.raises(ValueError, match="revealed"):
        store.answer(room.code, "init_depth", new_session_id(), "explodes")
    assert store.tally(room.code, "init_depth", room.teacher_key)["shrinks to ~0"] == 2
    assert store.answered(room.code, "init_depth", room.teacher_key) == 2
    store.answer(room.code, "dropout_gap", b, "wider gap")  # other questions stay open
    assert store.answered(room.code, "dropout_gap", room.teacher_key) == 2


def test_rooms_are_separate(store):
    r1, r2, s = store.create_room(), store.create_room(), new_session_id()
    store.answer(r1.code, "init_depth", s, "explodes")
    store.reveal(r1.code, "init_depth", r1.teacher_key)
    assert store.answered(r2.code, "init_depth", r2.teacher_key) == 0
    assert not store.revealed(r2.code, "init_depth")
    store.answer(r2.code, "init_depth", s, "stays near 1")
    with pytest.raises(PermissionError):
        store.tally(r1.code, "init_depth", r2.teacher_key)


def test_codes_are_typed_loosely_but_checked(store):
    room, s = store.create_room(), new_session_id()
    loose = f" {room.code[:3].lower()}-{room.code[3:]} "
    assert normalise_code(loose) == room.code
    assert store.join(loose, s) == room.code
    store.answer(loose, "init_depth", s, "explodes")
    assert store.tally(room.code, "init_depth", room.teacher_key)["explodes"] == 1
    with pytest.raises(ValueError, match="no room"):
        store.join("ABCDEF" if room.code != "ABCDEF" else "ABCDEG", s)


def test_garbage_codes_raise_valueerror(store):
    room, s = store.create_room(), new_session_id()
    for bad, call in _each(
        GARBAGE + ["ABC12O", "ABCDE", "ABCDEFG"],
        lambda bad: store.join(bad, s),
        lambda bad: store.answer(bad, "init_depth", s, "explodes"),
        lambda bad: store.revealed(bad, "init_depth"),
        lambda bad: store.following(bad),
        lambda bad: store.tally(bad, "init_depth", room.teacher_key),
        lambda bad: store.reveal(bad, "init_depth", room.teacher_key),
        lambda bad: store.export(bad, room.teacher_key),
        lambda bad: store.close(bad, room.teacher_key),
    ):
        with pytest.raises(ValueError, match="room code") as info:
            call()
        assert len(str(info.value)) < 300, short(bad)  # the message never echoes a 10 kB input
    assert store.answered(room.code, "init_depth", room.teacher_key) == 0


def test_garbage_choices_questions_and_sessions_raise_valueerror(store, db_url):
    room, s = store.create_room(), new_session_id()
    for bad in GARBAGE + ["EXPLODES", "explodes ", "init_depth "]:
        for match, call in [
            ("choice", lambda b: store.answer(room.code, "init_depth", s, b)),
            ("question", lambda b: store.answer(room.code, b, s, "explodes")),
            ("session", lambda b: store.answer(room.code, "init_depth", b, "explodes")),
            ("session", lambda b: store.join(room.code, b)),
            ("question", lambda b: store.tally(room.code, b, room.teacher_key)),
            ("question", lambda b: store.reveal(room.code, b, room.teacher_key)),
            ("question", lambda b: store.revealed(room.code, b)),
        ]:
            with pytest.raises(ValueError, match=match) as info:
                call(bad)
            assert len(str(info.value)) < 300, short(bad)
    assert raw_counts(db_url, room.code) == {
        "class_rooms": 1,
        "class_members": 0,
        "class_answers": 0,
        "class_reveals": 0,
    }


def test_options_with_quotes_and_unicode_are_stored_verbatim(store):
    """Bound parameters: an option that looks like SQL is data, tallied like any other."""
    room = store.create_room()
    opts = QUESTIONS["odd"]
    for i, opt in enumerate(opts):
        for _ in range(i + 1):
            store.answer(room.code, "odd", new_session_id(), opt)
    assert store.tally(room.code, "odd", room.teacher_key) == {opt: i + 1 for i, opt in enumerate(opts)}
    assert set(store.export(room.code, room.teacher_key)["choice"]) == set(opts)


def test_wrong_teacher_key_raises_permissionerror(store):
    room, other, s = store.create_room(), store.create_room(), new_session_id()
    store.answer(room.code, "init_depth", s, "explodes")
    keys = ["wrong", "", None, 0, "x" * 10_000, "' OR 1=1 --", other.teacher_key, room.teacher_key[:-1]]
    for _key, call in _each(
        keys,
        lambda key: store.tally(room.code, "init_depth", key),
        lambda key: store.answered(room.code, "init_depth", key),
        lambda key: store.reveal(room.code, "init_depth", key),
        lambda key: store.close(room.code, key),
        lambda key: store.export(room.code, key),
        lambda key: store.status(room.code, key),
        lambda key: store.joined(room.code, key),
        lambda key: store.follow(room.code, key, "dropout"),
    ):
        with pytest.raises(PermissionError, match="wrong teacher key"):
            call()
    assert not store.revealed(room.code, "init_depth")
    store.answer(room.code, "init_depth", s, "stays near 1")  # not closed by the failed close


def test_close_stops_answers_but_not_the_teacher(store):
    room, s = store.create_room(), new_session_id()
    store.answer(room.code, "init_depth", s, "explodes")
    store.close(room.code, room.teacher_key)
    store.close(room.code, room.teacher_key)  # idempotent
    with pytest.raises(ValueError, match="closed"):
        store.answer(room.code, "init_depth", s, "stays near 1")
    with pytest.raises(ValueError, match="closed"):
        store.join(room.code, new_session_id())
    with pytest.raises(ValueError, match="closed"):
        store.following(room.code)
    with pytest.raises(ValueError, match="closed"):
        store.reveal(room.code, "init_depth", room.teacher_key)
    assert store.tally(room.code, "init_depth", room.teacher_key)["explodes"] == 1
    assert store.my_answer(room.code, "init_depth", s) == "explodes"
    assert not store.revealed(room.code, "init_depth")
    status = store.status(room.code, room.teacher_key)
    assert status.closed_at is not None and status.joined == 1
    assert len(store.export(room.code, room.teacher_key)) == 1


def test_expiry_and_purge(make_store, db_url):
    clock = Clock()
    store = make_store(clock=clock)
    old, s = store.create_room(), new_session_id()
    store.answer(old.code, "init_depth", s, "explodes")
    store.reveal(old.code, "init_depth", old.teacher_key)
    store.close(old.code, old.teacher_key)
    assert store.status(old.code, old.teacher_key).expires_at == datetime.fromtimestamp(clock.t + 86_400, UTC)
    clock.t += 12 * 3600
    young = store.create_room()
    store.answer(young.code, "init_depth", s, "stays near 1")

    clock.t = old.expires_at.timestamp() - 1  # export works after close until expiry
    assert len(store.export(old.code, old.teacher_key)) == 1
    clock.t += 1
    for call in (
        lambda: store.export(old.code, old.teacher_key),
        lambda: store.tally(old.code, "init_depth", old.teacher_key),
        lambda: store.revealed(old.code, "init_depth"),
    ):
        with pytest.raises(ValueError, match="expired"):
            call()
    assert raw_counts(db_url, old.code)["class_answers"] == 1  # expired, not yet purged

    assert store.purge(old.expires_at - timedelta(microseconds=1)) == 0
    assert store.purge(old.expires_at) == 1
    assert raw_counts(db_url, old.code) == dict.fromkeys(raw_counts(db_url, old.code), 0)
    with pytest.raises(ValueError, match="no room"):
        store.export(old.code, old.teacher_key)
    assert store.tally(young.code, "init_depth", young.teacher_key)["stays near 1"] == 1
    assert store.purge() == 0
    clock.t = young.expires_at.timestamp()
    assert store.purge() == 1  # the default "now" is the store's clock
    with pytest.raises(ValueError, match="timezone"):
        store.purge(datetime(2030, 1, 1))


def test_custom_ttl(make_store):
    clock = Clock()
    store = make_store(clock=clock, ttl=timedelta(minutes=90))
    room = store.create_room()
    assert room.expires_at - room.created_at == timedelta(minutes=90)
    clock.t += 90 * 60
    with pytest.raises(ValueError, match="expired"):
        store.join(room.code, new_session_id())
    with pytest.raises(ValueError, match="ttl"):
        make_store(ttl=timedelta(0))


def test_restart_loses_nothing(make_store, db_url):
    first = make_store()
    room, sessions = first.create_room(), [new_session_id() for _ in range(5)]
    for i, s in enumerate(sessions):
        first.answer(room.code, "init_depth", s, QUESTIONS["init_depth"][i % 3])
    first.reveal(room.code, "init_depth", room.teacher_key)
    first.follow(room.code, room.teacher_key, "dropout", "dropout_gap")
    before = first.tally(room.code, "init_depth", room.teacher_key)
    first.dispose()

    second = make_store()
    assert (
        second.tally(room.code, "init_depth", room.teacher_key)
        == before
        == {
            "shrinks to ~0": 2,
            "stays near 1": 2,
            "explodes": 1,
        }
    )
    assert second.revealed(room.code, "init_depth")
    assert second.following(room.code).page == "dropout"
    assert second.status(room.code, room.teacher_key).joined == 5
    assert second.schema_version() == MIGRATIONS[-1].version
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT version FROM schema_migrations ORDER BY version")).scalars().all()
    engine.dispose()
    assert rows == [m.version for m in MIGRATIONS]  # each migration applied once


def test_migrations_are_a_strictly_increasing_list():
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(set(versions)) and versions[0] == 1


def test_join_follow_and_status(store):
    room, a, b = store.create_room(), new_session_id(), new_session_id()
    assert store.following(room.code) is None
    store.join(room.code, a)
    store.join(room.code, a)
    assert store.joined(room.code, room.teacher_key) == 1
    store.answer(room.code, "init_depth", b, "explodes")  # answering also counts as joined
    assert store.joined(room.code, room.teacher_key) == 2
    store.follow(room.code, room.teacher_key, "initialization", "init_depth")
    follow = store.following(room.code)
    assert (follow.page, follow.question_id) == ("initialization", "init_depth")
    store.follow(room.code, room.teacher_key, "dropout")
    assert store.following(room.code).question_id is None
    assert store.status(room.code, room.teacher_key).follow.page == "dropout"
    for page in ["", "x" * 201, None, "a\nb", 3]:
        with pytest.raises(ValueError, match="page"):
            store.follow(room.code, room.teacher_key, page)
    with pytest.raises(ValueError, match="question"):
        store.follow(room.code, room.teacher_key, "dropout", "nope")


def test_export_is_anonymous_and_complete(store):
    room, a, b = store.create_room(), new_session_id(), new_session_id()
    store.answer(room.code, "init_depth", a, "explodes")
    store.answer(room.code, "init_depth", b, "stays near 1")
    store.answer(room.code, "dropout_gap", b, "wider gap")
    store.answer(room.code, "init_depth", a, "shrinks to ~0")
    store.reveal(room.code, "init_depth", room.teacher_key)
    df = store.export(room.code, room.teacher_key)
    assert list(df.columns) == [
        "room",
        "question",
        "student",
        "choice",
        "first_answered_at",
        "answered_at",
        "revealed_at",
    ]
    got = sorted(zip(df["question"], df["student"], df["choice"], strict=True))
    assert got == [
        ("dropout_gap", 2, "wider gap"),
        ("init_depth", 1, "shrinks to ~0"),
        ("init_depth", 2, "stays near 1"),
    ]
    assert a not in df.to_csv() and b not in df.to_csv()  # session tokens stay in the store
    assert df["revealed_at"].notna().tolist() == [q == "init_depth" for q in df["question"]]
    assert (df["answered_at"] >= df["first_answered_at"]).all()
    fresh = store.create_room()
    out = store.export(fresh.code, fresh.teacher_key)
    assert len(out) == 0 and list(out.columns) == list(df.columns)
    assert isinstance(out, pd.DataFrame)


def test_questions_registry(make_store):
    class Q:
        options = ("yes", "no")

    store = make_store(questions={"q": Q()})
    room = store.create_room()
    store.answer(room.code, "q", new_session_id(), "yes")
    assert store.tally(room.code, "q", room.teacher_key) == {"yes": 1, "no": 0}
    with pytest.raises(ValueError, match="unknown question"):
        store.answer(room.code, "init_depth", new_session_id(), "explodes")
    for bad in [{"q": ()}, {"q": "abc"}, {"q": ("a", "a")}, {"q": ("a", 1)}, {"q": 5}]:
        with pytest.raises(ValueError, match="options"):
            make_store(questions=bad)


def test_join_limiter():
    clock = Clock(0.0)

    class FakeStore:
        def __init__(self):
            self.calls = 0

        def join(self, code, session_id):
            self.calls += 1
            if code != "GOOD22":
                raise ValueError("no room")
            return code

    fake, limiter = FakeStore(), JoinLimiter(max_failures=3, window_s=60, clock=clock)
    for _ in range(3):
        with pytest.raises(ValueError, match="no room"):
            limiter.join(fake, "BAD222", "s")
        clock.t += 1
    with pytest.raises(ValueError, match="too many wrong room codes: try again in 57 s"):
        limiter.join(fake, "GOOD22", "s")  # even the right code waits
    assert fake.calls == 3  # the store was not asked
    clock.t = 60.0  # the first failure left the window
    assert limiter.retry_after() == 0
    assert limiter.join(fake, "GOOD22", "s") == "GOOD22"
    for _ in range(2):  # a success clears the count
        with pytest.raises(ValueError, match="no room"):
            limiter.join(fake, "BAD222", "s")
    assert limiter.retry_after() == 0
    with pytest.raises(ValueError, match="max_failures"):
        JoinLimiter(max_failures=0)


def test_join_limiter_on_a_real_store(store):
    room, s = store.create_room(), new_session_id()
    limiter = JoinLimiter(max_failures=2, window_s=600)
    for bad in ["' OR 1=1 --", "ZZZZZZ" if room.code != "ZZZZZZ" else "YYYYYY"]:
        with pytest.raises(ValueError):
            limiter.join(store, bad, s)
    with pytest.raises(ValueError, match="too many"):
        limiter.join(store, room.code, s)
    assert store.joined(room.code, room.teacher_key) == 0


def test_bad_urls():
    with pytest.raises(ValueError, match="needs a file"):
        Store("sqlite://", questions=QUESTIONS)
    with pytest.raises(ValueError, match="sqlite:///FILE or postgresql"):
        Store("mysql://u@127.0.0.1/x", questions=QUESTIONS)
    with pytest.raises(ValueError, match="psycopg"):
        Store("postgresql+psycopg2://u@127.0.0.1/x", questions=QUESTIONS)
    for garbage in ["not a url", "' OR 1=1 --"]:
        with pytest.raises(ValueError, match="not a database URL"):
            Store(garbage, questions=QUESTIONS)


def test_sqlite_folder_that_cannot_be_made_is_unavailable(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreUnavailable, match="cannot create"):
        Store(f"sqlite:///{tmp_path / 'file' / 'sub' / 'class.db'}", questions=QUESTIONS)


def test_unreachable_postgresql_raises_storeunavailable():
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreUnavailable, match="unavailable") as info:
        Store(f"postgresql+psycopg://u:secretpw@127.0.0.1:{port}/x", questions=QUESTIONS)
    assert "secretpw" not in str(info.value)


def test_default_url_from_environment(monkeypatch, tmp_path):
    from classroom.store import default_url

    monkeypatch.setenv("TRAINING_EXPLORER_DB_URL", f"sqlite:///{tmp_path / 'x.db'}")
    assert default_url().endswith("x.db")
    monkeypatch.delenv("TRAINING_EXPLORER_DB_URL")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_url() == f"sqlite:///{tmp_path / 'data' / 'training-explorer' / 'classroom.db'}"
    store = Store(questions=QUESTIONS)  # created on first use, with its directory
    assert (tmp_path / "data" / "training-explorer" / "classroom.db").is_file()
    store.dispose()


def test_missing_postgresql_fails_in_ci_and_skips_elsewhere(monkeypatch):
    from tests.classroom.conftest import _missing, pg_bindir

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true requires PostgreSQL"):
        _missing("no initdb")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        _missing("no initdb")
    found = pg_bindir()
    assert found is None or (found / "initdb").is_file()


def test_a_killed_process_loses_no_committed_answer(db_url):
    """A server process answers, then dies by SIGKILL (no cleanup, no dispose): a new Store sees
    every answer that returned."""
    import subprocess
    import sys

    store = Store(db_url, questions=QUESTIONS)
    room = store.create_room()
    script = """
import os, signal, sys
from classroom.store import Store, new_session_id
from tests.classroom.conftest import QUESTIONS
store = Store(sys.argv[1], questions=QUESTIONS)
for i in range(7):
    store.answer(sys.argv[2], "init_depth", new_session_id(), QUESTIONS["init_depth"][i % 3])
print("answered", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script, db_url, room.code], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -9 and "answered" in done.stdout, done.stderr
    store.dispose()
    restarted = Store(db_url, questions=QUESTIONS)
    assert restarted.tally(room.code, "init_depth", room.teacher_key) == {
        "shrinks to ~0": 3,
        "stays near 1": 2,
        "explodes": 2,
    }
    restarted.dispose()


def test_postgresql_outage_is_storeunavailable_then_recovers(pg_cluster, pg_url):
    """The database goes down mid-class: calls raise StoreUnavailable (the page says the poll is
    offline); once it is back, the same Store works again and nothing committed was lost."""
    store = Store(pg_url, questions=QUESTIONS)
    room, s = store.create_room(), new_session_id()
    store.answer(room.code, "init_depth", s, "explodes")
    pg_cluster.stop()
    try:
        for call in (
            lambda: store.answer(room.code, "init_depth", new_session_id(), "explodes"),
            lambda: store.revealed(room.code, "init_depth"),
            lambda: store.tally(room.code, "init_depth", room.teacher_key),
        ):
            with pytest.raises(StoreUnavailable, match="unavailable"):
                call()
    finally:
        pg_cluster.start()
    store.answer(room.code, "init_depth", new_session_id(), "stays near 1")
    assert store.tally(room.code, "init_depth", room.teacher_key) == {
        "shrinks to ~0": 0,
        "stays near 1": 1,
        "explodes": 1,
    }
    store.dispose()
