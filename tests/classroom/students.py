"""A class of simulated students in one process (the target of the multiprocessing tests)."""

from __future__ import annotations

import os
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from classroom.store import Store


def class_of_students(url, questions, sessions, finals, start, migrated, rooms, go, done, out) -> None:
    """Open a Store (racing the other process's migration), then one thread per student: join,
    a first guess, the final guess (the last wins), a second question. Report the tallies seen
    after both processes finished, and the time taken, on ``out``."""
    try:
        start.wait(timeout=180)
        store = Store(url, questions=questions)
        migrated.wait(timeout=180)
        code, key = rooms.get(timeout=60)

        def student(sid: str, final: str) -> None:
            store.join(code, sid)
            store.answer(code, "init_depth", sid, "explodes")
            store.answer(code, "init_depth", sid, final)
            store.answer(code, "dropout_gap", sid, "within seed noise")

        with ThreadPoolExecutor(len(sessions)) as pool:
            go.wait(timeout=60)
            t0 = time.perf_counter()
            for f in [pool.submit(student, s, c) for s, c in zip(sessions, finals, strict=True)]:
                f.result()
            elapsed = time.perf_counter() - t0
        done.wait(timeout=60)  # both processes finished answering
        tallies = {q: store.tally(code, q, key) for q in ("init_depth", "dropout_gap")}
        out.put(("ok", os.getpid(), tallies, elapsed))
        store.dispose()
    except BaseException:  # report, so the parent fails with the child's traceback instead of a timeout
        out.put(("error", os.getpid(), traceback.format_exc(), None))
        for barrier in (start, migrated, go, done):
            barrier.abort()
