"""60 students in threads across two processes on one database (SQLite file / PostgreSQL)."""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import time
from collections import Counter
from contextlib import nullcontext

import sqlalchemy as sa

from classroom.store import MIGRATIONS, Store, new_session_id
from tests.classroom.conftest import QUESTIONS, new_pg_database
from tests.classroom.students import class_of_students

N_STUDENTS = 60


def test_sixty_students_across_two_processes(backend, request, tmp_path):
    """Two processes start on a fresh database at once (both migrate it: each migration applied
    once), then 60 students answer through both; every answer is recorded once and both
    processes read the same tallies as the parent."""
    if backend == "sqlite":
        fresh = nullcontext(f"sqlite:///{tmp_path / 'class.db'}")
    else:
        fresh = new_pg_database(request.getfixturevalue("pg_server"))
    with fresh as url:
        sessions = [new_session_id() for _ in range(N_STUDENTS)]
        finals = [QUESTIONS["init_depth"][i % 3] for i in range(N_STUDENTS)]
        ctx = mp.get_context("spawn")
        start, migrated, go, done = ctx.Barrier(2), ctx.Barrier(3), ctx.Barrier(3), ctx.Barrier(2)
        rooms, out = ctx.Queue(), ctx.Queue()
        procs = [
            ctx.Process(
                target=class_of_students,
                args=(url, QUESTIONS, sessions[k::2], finals[k::2], start, migrated, rooms, go, done, out),
            )
            for k in range(2)
        ]
        for p in procs:
            p.start()
        try:
            migrated.wait(timeout=240)
            store = Store(url, questions=QUESTIONS)
            room = store.create_room()
            for _ in procs:
                rooms.put((room.code, room.teacher_key))
            go.wait(timeout=60)
            t0 = time.perf_counter()
            results = [out.get(timeout=120) for _ in procs]
            wall = time.perf_counter() - t0
        except threading.BrokenBarrierError:  # a child failed or timed out: show its traceback
            reports = []
            for _ in procs:
                try:
                    reports.append(str(out.get(timeout=30)[2]))
                except queue.Empty:
                    reports.append("(no report within 30 s)")
            raise AssertionError("a student process did not reach the barrier:\n" + "\n".join(reports)) from None
        finally:
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.kill()
        errors = [r[2] for r in results if r[0] != "ok"]
        assert not errors, "\n".join(errors)
        assert [p.exitcode for p in procs] == [0, 0]

        expected = {
            "init_depth": dict(Counter(finals)),
            "dropout_gap": {"wider gap": 0, "narrower gap": 0, "within seed noise": N_STUDENTS},
        }
        seen = {q: store.tally(room.code, q, room.teacher_key) for q in expected}
        assert seen == expected
        assert [r[2] for r in results] == [expected, expected]  # both processes, the same tallies
        assert store.joined(room.code, room.teacher_key) == N_STUDENTS
        df = store.export(room.code, room.teacher_key)
        assert len(df) == 2 * N_STUDENTS and not df.duplicated(["question", "student"]).any()
        assert sorted(df["student"].unique()) == list(range(1, N_STUDENTS + 1))
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version FROM schema_migrations")).scalars().all()
        engine.dispose()
        assert sorted(versions) == [m.version for m in MIGRATIONS]  # each applied once
        print(f"\n{backend}: {N_STUDENTS} students x 4 writes, two processes: {wall:.2f} s wall")
        store.dispose()


def test_answers_racing_a_reveal_are_in_or_refused(store):
    """Students keep changing their answer while the teacher reveals: after reveal() returns, the
    tally never changes, every answer a student saw succeed is counted (her last one), and the
    rest were refused.

    Students pause 5 ms between answers, as people do: a client hammering without pause can hold
    off the reveal's lock (SQLite's busy handler and PostgreSQL's share locks do not queue fairly).
    """
    room = store.create_room()
    sessions = [new_session_id() for _ in range(12)]
    last: dict[str, str] = {}
    refused: set[str] = set()
    opts = QUESTIONS["init_depth"]
    go = threading.Event()
    revealed: list[float] = []  # when reveal() returned

    def student(i: int, sid: str) -> None:
        go.wait()
        give_up = time.monotonic() + 300  # a reveal starved this long fails the test below
        k = 0
        # answer until refused; stop 30 s after the reveal returned (however long it took)
        while time.monotonic() < (revealed[0] + 30 if revealed else give_up):
            choice = opts[(i + k) % 3]
            try:
                store.answer(room.code, "init_depth", sid, choice)
            except ValueError:
                refused.add(sid)
                return
            last[sid] = choice
            k += 1
            time.sleep(0.005)

    threads = [threading.Thread(target=student, args=(i, s)) for i, s in enumerate(sessions)]
    for t in threads:
        t.start()
    go.set()
    time.sleep(0.2)
    store.reveal(room.code, "init_depth", room.teacher_key)
    revealed.append(time.monotonic())
    at_reveal = store.tally(room.code, "init_depth", room.teacher_key)
    for t in threads:
        t.join(timeout=330)
    assert refused == set(sessions)  # every student was still answering when the reveal landed
    assert store.tally(room.code, "init_depth", room.teacher_key) == at_reveal
    assert at_reveal == {o: Counter(last.values())[o] for o in opts}


def _open_store(url: str, start, out) -> None:
    try:
        start.wait(timeout=60)
        Store(url, questions=QUESTIONS).dispose()
        out.put("ok")
    except BaseException as e:  # reported to the parent, which fails with it
        out.put(repr(e))


def test_processes_opening_a_new_sqlite_store_at_once(tmp_path):
    """Four processes open the same new SQLite file at the same moment, 60 times over. Switching a
    fresh file to WAL can be refused at once ("database is locked", no busy wait) when another
    connection switches it too; without the store's retry about 1 fresh file in 20 failed."""
    ctx = mp.get_context("fork")
    failures = []
    for i in range(60):
        url = f"sqlite:///{tmp_path / f'class{i}.db'}"
        start, out = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_open_store, args=(url, start, out)) for _ in range(4)]
        for p in procs:
            p.start()
        failures += [r for r in (out.get(timeout=90) for _ in procs) if r != "ok"]
        for p in procs:
            p.join(timeout=30)
    assert failures == []
