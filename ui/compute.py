"""Where runs compute: in worker processes beside the server, or in the server process itself.

A training run is seconds of Python and NumPy. Inside the Streamlit process it holds the GIL that
every other student's rerun needs, and it can only ever use one core. So by default each run goes
to one of ``WORKERS`` worker processes (one per core, at most 2): both cores train, and the server
process stays free to answer cached reruns. A run waits for a free worker (its progress bar says
so); the worker reports progress and per-epoch snapshots back over a pipe, enforces the time cap
itself, and stops early if the page that asked for it goes away.

``TRAINING_EXPLORER_WORKERS=0`` computes in the server process instead, one run at a time (the
tests do this: AppTest runs pages in its own process).
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import itertools
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

#: A worker still holding this many MB more than at its start after a job is replaced by a fresh
#: one (fragmented or cached memory would otherwise stay with the server for good).
RECYCLE_MB = float(os.environ.get("TRAINING_EXPLORER_WORKER_RECYCLE_MB", "96") or 96)
#: A worker that has run a job and then sat idle this many seconds is replaced by a fresh one, so
#: that the memory a class leaves in the workers goes back to the system soon after it ends.
IDLE_REFRESH_S = float(os.environ.get("TRAINING_EXPLORER_WORKER_IDLE_S", "20") or 20)
#: Scheduling priority of the workers (``nice``, 0-19): page reruns, which students wait on
#: every time they touch a control, go before training runs when the cores are busy.
NICE = int(os.environ.get("TRAINING_EXPLORER_WORKER_NICE", "10") or 0)
#: Worker processes (0: compute in this process).
WORKERS = max(0, int(os.environ.get("TRAINING_EXPLORER_WORKERS", str(min(2, os.cpu_count() or 1))) or 0))

# (fraction, message) -> False to stop: the experiments' progress callback.
Progress = Callable[..., Any]


class WorkerLost(RuntimeError):
    """The worker process computing a run died (killed, out of memory); a new one replaces it."""


class Capped(Exception):
    """The run reached its time cap; ``result`` holds what it finished."""

    def __init__(self, result):
        super().__init__("time cap")
        self.result = result


def _execute(kind: str, payload: dict, seconds: float, send: Callable, cancelled: Callable[[], bool]):
    """Run one job (in a worker or here): returns (result, capped)."""
    from engine.experiments import REGISTRY
    from engine.train import TrainConfig, train

    deadline, capped = time.monotonic() + seconds, False

    def progress(fraction, message="", report=True):
        nonlocal capped
        if report:
            send(("progress", float(fraction), str(message)))
        if time.monotonic() > deadline:
            capped = True
        return not (capped or cancelled())

    if kind == "experiment":
        result = REGISTRY[payload["name"]](**payload["params"], progress=progress)
    elif kind == "train":
        config = TrainConfig(**payload["config"])

        def on_epoch(epoch, h):
            snapshot = copy.copy(h)
            snapshot.model = None
            send(("epoch", epoch, snapshot))  # the page draws its own progress from it
            return progress((epoch + 1) / config.epochs, report=False)

        result = train(config, on_epoch=on_epoch)
        result.model = None  # curves and diagnostics travel back, not the weights
    else:
        raise ValueError(f"unknown job kind {kind!r}")
    return result, capped


#: glibc malloc arenas the server's threads share. glibc gives each thread that allocates its own
#: arena (up to 8 per core) and Streamlit runs every session's script in a thread of its own, so
#: the memory a class frees ends up scattered over many arenas, in pieces that stay with the
#: process; two arenas keep it where ``malloc_trim`` hands it back. ``MALLOC_ARENA_MAX`` overrides.
#: Server only (set by :func:`start`): a worker trains in one thread.
MALLOC_ARENAS = 2


def _glibc(name: str, *args) -> None:
    """Call glibc's ``name`` (nothing where the C library is not glibc)."""
    try:
        getattr(ctypes.CDLL("libc.so.6"), name)(*args)
    except (OSError, AttributeError):
        pass


def _server_memory() -> None:
    """Malloc settings that let the server hand what a class freed back to the system."""
    if "MALLOC_ARENA_MAX" not in os.environ:
        _glibc("mallopt", -8, MALLOC_ARENAS)  # -8: M_ARENA_MAX


def _trim() -> None:
    """Hand the memory a finished job freed back to the system (glibc keeps it otherwise)."""
    _glibc("malloc_trim", 0)


def _rss_mb() -> float:
    """This process's resident memory in MB (Linux), or 0 where /proc is missing."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def _worker_main(conn, cancel) -> None:
    """A worker process: run the jobs that arrive on ``conn``, one at a time, until it closes.

    After each job it hands freed memory back to the system; if it still holds more than
    :data:`RECYCLE_MB` over its size at start, it says so with its answer and exits, and the
    pool starts a fresh worker in its place.
    """
    if NICE > 0:
        os.nice(NICE)
    # isort: off
    import ui  # noqa: F401 - first: one BLAS thread, as in the server
    import engine.experiments  # noqa: F401 - imported before the first job's time cap starts
    # isort: on

    base = _rss_mb()
    while True:
        try:
            kind, payload, seconds = conn.recv()
        except (EOFError, OSError):
            return
        cancel.clear()
        try:
            answer = ("done", *_execute(kind, payload, seconds, conn.send, cancel.is_set))
        except Exception as e:  # noqa: BLE001 - every error goes back to the page that asked
            answer = ("error", e)
        _trim()
        retire = _rss_mb() > base + RECYCLE_MB
        try:
            conn.send((*answer, retire))
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            conn.send(("error", RuntimeError(f"{type(answer[1]).__name__}: {answer[1]}"), retire))
        answer = None
        if retire:
            return


@contextlib.contextmanager
def _plain_main():
    """Hide ``__main__`` while a worker spawns: under ``streamlit run`` it is the page script, which
    multiprocessing would otherwise run again in the worker (it imports the parent's main)."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class _Worker:
    def __init__(self, ctx):
        self.ctx = ctx
        self.conn, child = ctx.Pipe()
        self.cancel = ctx.Event()
        self.process = ctx.Process(
            target=_worker_main, args=(child, self.cancel), daemon=True, name="training-explorer-worker"
        )
        with _plain_main():
            self.process.start()
        child.close()
        self.jobs, self.since = 0, time.monotonic()  # jobs run, and since when it is idle

    def close(self) -> None:
        self.conn.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()

    def restart(self) -> None:
        """Replace the process (dead, or gone wrong) by a fresh one, in place."""
        self.close()
        self.__init__(self.ctx)


class _Pool:
    """``WORKERS`` worker processes, started on first use; a job waits for a free one."""

    def __init__(self, n: int):
        self.n, self.free, self._lock = n, queue.Queue(), threading.Lock()
        self._ctx = mp.get_context("spawn")  # never fork a threaded server
        self._started = False

    def start(self) -> None:
        with self._lock:
            if not self._started:
                for _ in range(self.n):
                    self.free.put(_Worker(self._ctx))
                self._started = True

    @contextlib.contextmanager
    def worker(self, waiting: Callable[[], None]):
        """A free worker for one job; ``waiting()`` first if none is free. The job must set
        ``w.idle = True`` once the worker has answered; otherwise (the page went away mid-job)
        the worker is cancelled and drained in the background before anyone else gets it."""
        self.start()
        try:
            w = self.free.get_nowait()
        except queue.Empty:
            waiting()
            w = self.free.get()
        w.idle = w.retire = False
        try:
            yield w
        finally:
            if w.idle and w.retire:
                threading.Thread(target=self._replace, args=(w,), daemon=True).start()
            elif w.idle:
                self._put_back(w)
            else:
                threading.Thread(target=self._drain, args=(w,), daemon=True).start()

    def _put_back(self, w: _Worker) -> None:
        w.jobs, w.since = w.jobs + 1, time.monotonic()
        self.free.put(w)

    def refresh(self, idle_s: float) -> None:
        """Replace the free workers that ran a job and have been idle ``idle_s`` seconds."""
        now, keep = time.monotonic(), []
        while True:
            try:
                keep.append(self.free.get_nowait())
            except queue.Empty:
                break
        for w in keep:
            if w.jobs and now - w.since >= idle_s:
                w.restart()
            self.free.put(w)

    def _replace(self, w: _Worker) -> None:
        """Put a fresh worker in the place of ``w``, which is exiting."""
        w.close()
        self.free.put(_Worker(self._ctx))

    def _drain(self, w: _Worker) -> None:
        w.cancel.set()
        try:
            while w.conn.poll(60):
                msg = w.conn.recv()
                if msg[0] in ("done", "error"):
                    if msg[-1]:  # it retires
                        self._replace(w)
                    else:
                        self._put_back(w)
                    return
        except (EOFError, OSError):
            pass
        self._replace(w)  # dead or stuck

    def run(self, kind, payload, seconds, progress: Progress, on_epoch, waiting):
        with self.worker(waiting) as w:
            if not w.process.is_alive():  # died since its last job: replace it
                w.restart()
            w.conn.send((kind, payload, seconds))
            while True:
                try:
                    msg = w.conn.recv()
                except (EOFError, OSError) as e:
                    w.restart()
                    w.idle = True
                    raise WorkerLost("the process computing this run stopped unexpectedly") from e
                if msg[0] == "progress":
                    progress(msg[1], msg[2])
                elif msg[0] == "epoch":
                    if on_epoch is not None:
                        on_epoch(msg[1], msg[2])
                else:
                    w.idle, w.retire = True, msg[-1]
                    if msg[0] == "done":
                        return msg[1], msg[2]
                    raise msg[1]


_pool = _Pool(WORKERS) if WORKERS else None
_upkeep_started = False
_local = threading.BoundedSemaphore(1)


def start() -> None:
    """Start the worker processes now (they take about a second each to import the engine); once
    per process, set the server's malloc arenas (:data:`MALLOC_ARENAS`) and start a thread that
    hands its freed memory back to the system every 30 s and replaces workers idle for
    :data:`IDLE_REFRESH_S`."""
    global _upkeep_started
    if _pool is not None:
        _pool.start()
    if not _upkeep_started:
        _upkeep_started = True
        _server_memory()
        threading.Thread(target=_upkeep, name="compute-upkeep", daemon=True).start()


def _upkeep() -> None:
    for tick in itertools.count(1):
        time.sleep(10)
        if _pool is not None:
            _pool.refresh(IDLE_REFRESH_S)
        if tick % 3 == 0:
            _trim()


def _run(kind, payload, seconds, progress, on_epoch, waiting, here=False):
    if _pool is not None and not here:
        return _pool.run(kind, payload, seconds, progress, on_epoch, waiting)

    def send(msg):
        if msg[0] == "progress":
            progress(msg[1], msg[2])
        elif msg[0] == "epoch" and on_epoch is not None:
            on_epoch(msg[1], msg[2])

    if here:  # a light run: no queue
        return _execute(kind, payload, seconds, send, lambda: False)
    if not _local.acquire(blocking=False):
        waiting()
        _local.acquire()
    try:
        return _execute(kind, payload, seconds, send, lambda: False)
    finally:
        _local.release()


def experiment(name: str, params: dict, seconds: float, progress: Progress, waiting=lambda: None, here=False):
    """Run experiment ``name``; returns its Result, raises :class:`Capped` at the time cap.

    ``progress(fraction, message)`` is called here, in the caller's thread, as the run goes;
    ``waiting()`` once if the run has to queue for a worker. ``here=True`` computes in this
    thread at once, for light runs that should not queue behind training.
    """
    result, capped = _run("experiment", {"name": name, "params": params}, seconds, progress, None, waiting, here)
    if capped:
        raise Capped(result)
    return result


def train(config: dict, seconds: float, progress: Progress, on_epoch=None, waiting=lambda: None):
    """Train ``TrainConfig(**config)``; ``on_epoch(epoch, history_so_far)`` as epochs finish.

    Returns the History (without its model); raises :class:`Capped` at the time cap.
    """
    result, capped = _run("train", {"config": config}, seconds, progress, on_epoch, waiting)
    if capped:
        raise Capped(result)
    return result
