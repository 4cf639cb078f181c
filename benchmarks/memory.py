"""Memory: the biggest runs the budget lets through, and what a compute worker keeps after jobs.

Peak of the biggest runs (the default). ``engine.budget.check`` refuses a run over its FLOP
budget (``budget.MAX_FLOPS``) or over its estimated peak memory (``budget.MAX_BYTES``, from
``budget.peak_bytes``). For each width and each way of making a run cheap in FLOPs (fewer epochs,
fewer training samples), this script finds the deepest network ``budget.check`` accepts, with
every memory-hungry option on (BatchNorm, dropout, skip connections, early stopping that keeps
the best weights, the largest batch), and trains it in a fresh process. It reports the process's
peak resident memory (``ru_maxrss``, which includes Python and NumPy: the baseline is shown), the
peak of NumPy's allocations during training (``tracemalloc``) and the budget's estimate.

What a worker keeps (``--workers``). Two ``serve.compute`` workers run the same jobs one after
the other: every experiment at its defaults (what the default views compute), then the biggest
run of the table. One worker hands freed memory back after each job (``serve.memory.trim``, as
the app's workers do), the other does not. The script reports each worker's RSS when fresh and
after each job: what trimming gives back, what a worker keeps after a class (what replacing an
idle worker by a fresh one gives back), and the most any job leaves it holding.

    python benchmarks/memory.py              # the table (a few minutes)
    python benchmarks/memory.py --quick      # only the single worst case
    python benchmarks/memory.py --workers    # what a worker keeps, with and without trimming
    python benchmarks/memory.py --json /tmp/memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024**3
WIDTHS = (128, 256, 512, 1024)
#: Ways to spend the FLOP budget: (label, changes to TrainConfig). The biggest batch keeps every
#: training sample's activations at once.
REGIMES = (
    ("defaults (40 epochs, all data)", {}),
    ("1 epoch, all data, one batch", {"epochs": 1, "batch_size": 2048, "warmup_epochs": 0}),
    ("1 epoch, 10 samples", {"epochs": 1, "n_train": 10, "warmup_epochs": 0}),
)
#: Options that keep extra arrays: dropout masks, skip sums, best-weight copies.
HUNGRY = {"batch_norm": True, "dropout": 0.5, "residual": True, "patience": 1}

sys.path.insert(0, str(ROOT))  # run as a script from anywhere
from engine.budget import peak_bytes as estimate_bytes  # noqa: E402  (the budget's model)


def deepest(width, changes):
    """The largest depth ``engine.budget.check`` accepts at ``width`` with ``changes`` (None if none)."""
    from engine import budget
    from engine.train import LIMITS, TrainConfig

    def ok(depth):
        try:
            budget.check(TrainConfig(depth=depth, width=width, **HUNGRY, **changes))
            return True
        except ValueError:
            return False

    lo, hi = LIMITS["depth"]
    if not ok(lo):
        return None
    while lo < hi:  # cost grows with depth: bisect for the last accepted depth
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid - 1)
    return lo


def _measure(config_kwargs):
    """Child process: train once, print peak memory figures as JSON."""
    import resource
    import tracemalloc

    import numpy as np  # noqa: F401  (imported before the baseline is taken)

    from engine.datasets import load
    from engine.train import TrainConfig, train

    cfg = TrainConfig(**config_kwargs)
    split = load(cfg.dataset, cfg.seed, cfg.n_train)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    hist = train(cfg, data=split)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    n_params = sum(p.size for layer in hist.model.layers for p in layer.params.values())
    print(
        json.dumps(
            {"baseline_rss": base, "peak_rss": rss, "traced_peak": peak, "params": n_params, "seconds": hist.seconds}
        )
    )


def measure(config_kwargs):
    """Peak memory of training ``config_kwargs`` in a fresh process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(config_kwargs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
        timeout=900,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _untrimmed_worker(conn, cancel, settings):
    """A compute worker that never hands freed memory back (the comparison for ``--workers``)."""
    from serve import compute, memory

    memory.trim = lambda: False
    compute._worker_main(conn, cancel, settings)


def workers(biggest: dict) -> list[dict]:
    """RSS of a trimming and an untrimmed worker, fresh and after each job (see the docstring)."""
    import contextlib
    import dataclasses

    import psutil

    from engine.experiments import REGISTRY
    from serve import compute
    from serve.settings import SETTINGS

    compute._plain_main = contextlib.nullcontext  # this script is __main__, and holds the worker below
    keep = dataclasses.replace(SETTINGS, worker_idle_s=float("inf"))  # (no upkeep thread runs here anyway)
    jobs = [("experiment", {"name": name, "params": {}}, name) for name in REGISTRY]
    jobs.append(("train", {"config": biggest}, "biggest run ({depth} x {width})".format(**biggest)))
    pools = {"trimmed": compute._Pool(1, keep), "untrimmed": compute._Pool(1, keep, target=_untrimmed_worker)}
    rows = []
    try:
        for pool in pools.values():
            pool.start()
        for label, kind, payload in [("fresh", "experiment", {"name": "init_rules", "params": {}})] + [
            (name, kind, payload) for kind, payload, name in jobs
        ]:
            row = {"after": label}
            for variant, pool in pools.items():
                pool.run(kind, payload, 600, lambda *a: None, None, lambda: None)
                (w,) = list(pool.free.queue)
                row[variant] = psutil.Process(w.process.pid).memory_info().rss / 2**20
            rows.append(row)
            print(f"| {label} | {row['trimmed']:.0f} MiB | {row['untrimmed']:.0f} MiB |", flush=True)
    finally:
        for pool in pools.values():
            while not pool.free.empty():
                pool.free.get().close()
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="only the worst case (most parameters)")
    ap.add_argument("--workers", action="store_true", help="what a compute worker keeps after jobs")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.child:
        return _measure(json.loads(args.child))

    from engine import budget
    from engine.train import TrainConfig

    runs = []  # (label, TrainConfig kwargs, FLOPs, estimated bytes)
    for label, changes in REGIMES:
        for width in WIDTHS:
            depth = deepest(width, changes)
            if depth is not None:
                kwargs = dict(depth=depth, width=width, **HUNGRY, **changes)
                runs.append((label, kwargs, budget.flops(TrainConfig(**kwargs)), estimate_bytes(TrainConfig(**kwargs))))
    if args.quick or args.workers:
        runs = [max(runs, key=lambda r: r[1]["depth"] * r[1]["width"] ** 2)]
    if args.workers:
        print("| worker RSS after | trimmed after each job | untrimmed |\n|---|---:|---:|")
        rows = workers(runs[0][1])
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1))
        return 0
    print(f"budget.MAX_FLOPS = {budget.MAX_FLOPS:.3g}; every run: {HUNGRY}")
    print(
        "| regime | depth x width | parameters | FLOPs | peak RSS | baseline RSS | NumPy peak (tracemalloc) | "
        "estimate | <= 1 GiB |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    results = []
    for label, kwargs, flops, estimate in runs:
        m = measure(kwargs)
        row = dict(regime=label, config=kwargs, flops=flops, estimate=estimate, **m)
        results.append(row)
        print(
            f"| {label} | {kwargs['depth']} x {kwargs['width']} | {m['params'] / 1e6:.2f} M | {flops:.2g} | "
            f"{m['peak_rss'] / 2**20:.0f} MiB | {m['baseline_rss'] / 2**20:.0f} MiB | "
            f"{m['traced_peak'] / 2**20:.0f} MiB | {estimate / 2**20:.0f} MiB | "
            f"{'yes' if m['peak_rss'] <= GIB else 'NO'} |",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    worst = max(results, key=lambda r: r["peak_rss"])
    return 0 if worst["peak_rss"] <= GIB else 1


if __name__ == "__main__":
    sys.exit(main())
