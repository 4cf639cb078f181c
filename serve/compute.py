"""Where runs compute: in worker processes beside the server, or in the server process itself.

A training run is seconds of Python and NumPy. Inside the Streamlit process it holds the GIL that
every other student's rerun needs, and it can only ever use one core. So by default each run goes
to one of ``SETTINGS.workers`` worker processes (one per CPU, at most 2): both cores train, and
the server process stays free to answer cached reruns. A run waits for a free worker (its
progress bar says so); the worker reports progress and per-epoch snapshots back over a pipe,
enforces the time cap itself, and stops early if the page that asked for it goes away.

``TRAINING_EXPLORER_WORKERS=0`` computes in the server process instead, one run at a time (the
tests do this: AppTest runs pages in its own process).

Workers are spawned (never forked from a threaded server) and get the server's
:class:`~serve.settings.Settings` as an argument, so a worker never reads the environment again.
Their priority comes from psutil, which works on Linux, macOS and Windows; where the OS refuses,
the worker still computes (:func:`serve.system.lower_priority`). After each job a worker hands
freed memory back to the system; a worker idle ``SETTINGS.worker_idle_s`` after a job is replaced
by a fresh one (benchmarks/README.md, "What a worker and the server keep after a class").
"""

from __future__ import annotations

import contextlib
import copy
import multiprocessing as mp
import queue
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

from serve import memory, setup_process, system
from serve.settings import SETTINGS, Settings

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


def _worker_main(conn, cancel, settings: Settings) -> None:
    """A worker process: run the jobs that arrive on ``conn``, one at a time, until it closes.

    After each job it hands freed memory back to the system (:func:`serve.memory.trim`).
    """
    system.lower_priority(settings.worker_nice)
    setup_process(settings)  # one BLAS thread, as in the server
    import engine.experiments  # noqa: F401 - imported before the first job's time cap starts

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
        memory.trim()
        try:
            conn.send(answer)
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            conn.send(("error", RuntimeError(f"{type(answer[1]).__name__}: {answer[1]}")))
        answer = None


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
    def __init__(self, ctx, settings: Settings, target: Callable = _worker_main):
        self.ctx, self.settings, self.target = ctx, settings, target
        self.conn, child = ctx.Pipe()
        self.cancel = ctx.Event()
        self.process = ctx.Process(
            target=target, args=(child, self.cancel, settings), daemon=True, name="training-explorer-worker"
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
        self.__init__(self.ctx, self.settings, self.target)


class _Pool:
    """``n`` worker processes, started on first use; a job waits for a free one.

    ``target`` is the workers' main function (a test passes its own, which wraps
    :func:`_worker_main`).
    """

    def __init__(self, n: int, settings: Settings = SETTINGS, target: Callable = _worker_main):
        self.n, self.free, self._lock = n, queue.Queue(), threading.Lock()
        self.settings, self.target = settings, target
        self._ctx = mp.get_context("spawn")  # never fork a threaded server
        self._started = False

    def _new(self) -> _Worker:
        return _Worker(self._ctx, self.settings, self.target)

    def start(self) -> None:
        with self._lock:
            if not self._started:
                for _ in range(self.n):
                    self.free.put(self._new())
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
        w.idle = False
        try:
            yield w
        finally:
            if w.idle:
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
        """Put a fresh worker in the place of ``w`` (dead, or stuck in a job)."""
        w.close()
        self.free.put(self._new())

    def _drain(self, w: _Worker) -> None:
        w.cancel.set()
        try:
            while w.conn.poll(60):
                msg = w.conn.recv()
                if msg[0] in ("done", "error"):
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
                    w.idle = True
                    if msg[0] == "done":
                        return msg[1], msg[2]
                    raise msg[1]


_pool = _Pool(SETTINGS.workers) if SETTINGS.workers else None
_upkeep_started = False
_local = threading.BoundedSemaphore(1)
#: Seconds between the server's checks for idle workers to replace.
UPKEEP_S = 10.0


def start() -> None:
    """Start the worker processes now (they take about a second each to import the engine), and
    once per process a thread that every :data:`UPKEEP_S` replaces the workers idle for
    ``SETTINGS.worker_idle_s`` after a job by fresh ones."""
    global _upkeep_started
    if _pool is not None:
        _pool.start()
    if not _upkeep_started and _pool is not None:
        _upkeep_started = True
        threading.Thread(target=_upkeep, args=(_pool,), name="compute-upkeep", daemon=True).start()


def _upkeep(pool: _Pool) -> None:
    while True:
        time.sleep(UPKEEP_S)
        pool.refresh(SETTINGS.worker_idle_s)


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
