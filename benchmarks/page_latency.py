"""Page latency under Streamlit's AppTest: the first run in a fresh process, then reruns.

Every page (``streamlit_app.py`` and each ``pages/*.py``, found on disk) runs in fresh Python
processes, as the server runs it: through the entrypoint and ``switch_page``, default controls.

* cold: the first run in a fresh process, the page's imports (ui, the engine, pandas, Altair)
  included: what the first visitor of an un-warmed server waits for. Real training sections
  wait for their Train button there (``ui.runner.on_demand``), so this is the page without them.
* trained: the first run in a fresh process with ``?run=1``: every training section trains.
  This is the wait of a user who explicitly starts the training runs (no target: it is the
  engine's speed; on a served app the warm-up pays it once for the default view).
* warm: a rerun of that trained page with unchanged inputs: cache hits (experiment results live in
  ``st.cache_resource``, live training runs in ``st.cache_data``), what every student sees on a
  warmed server, the median of ``--reruns``.

Targets: cold <= 3 s, warm <= 0.3 s. The exit status is 1 if a page misses one or raises.

``--cpu`` reports instead what a page's default Train press costs in CPU: each page runs once
without and once with ``?run=1``, each in a fresh process that computes in itself (no worker
processes, no shared result store, no time cap), and the table gives the process CPU time
(``time.process_time``, every thread) of the trained run minus the cold one, and the CPU time
spent inside the engine's experiment calls (``engine.experiments.REGISTRY``) and live training
runs (``engine.train.train``) of that run, with their count. ``--seeds N`` passes ``seeds=N`` to
every experiment whose function takes a ``seeds`` parameter (the others run unchanged).

``--floor`` compares each page's Train press with 3 seeds against 1 seed, and against the
stacking floor: the 1-seed press costs o + C, where C = sum of K_i * c_i is what its stacks'
members compute (c_i, one member's CPU in stack i, from re-timing that stack whole and as a stack
of one in the same process: (T_K - T_1) / (K - 1); a stack of one is re-timed beside a stack of
two) and o is everything else: per-run overhead, the page, its tables and any per-seed work
outside a stack. Three seeds triple the members, so no stacking can cost less than
(o + 3C) / (o + C); the table gives that floor and the measured ratio over it.

    python benchmarks/page_latency.py
    python benchmarks/page_latency.py --cpu --seeds 3
    python benchmarks/page_latency.py --floor --repeat 3
    python benchmarks/page_latency.py --repeat 3 --json /tmp/latency.json
    python benchmarks/page_latency.py --pages pages/4_Dropout.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY = "streamlit_app.py"
COLD_TARGET, WARM_TARGET = 3.0, 0.3


def discover():
    """The entrypoint, then every page file in pages/ in name order."""
    return [ENTRY] + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))


def _instrument(seeds=None):
    """Time (CPU) every engine experiment and live training call of this process; with ``seeds``,
    pass ``seeds=seeds`` to the experiments that take it. Returns the list the calls append to."""
    import functools
    import inspect

    import engine.experiments as experiments
    import engine.train

    calls = []

    def timed(name, fn, set_seeds):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if set_seeds:
                kwargs["seeds"] = seeds
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                calls.append((name, time.process_time() - t0))

        return wrapper

    for name, fn in list(experiments.REGISTRY.items()):
        takes = seeds is not None and "seeds" in inspect.signature(fn).parameters
        experiments.REGISTRY[name] = timed(name, fn, takes)
    engine.train.train = timed("train", engine.train.train, False)
    return calls


def _record_stacks():
    """Record the arguments of every ``train_stacked`` call of this process."""
    import functools

    import engine.experiments.common as common
    import engine.train

    stacks = []
    inner = engine.train.train_stacked

    @functools.wraps(inner)
    def recorded(configs, *args, **kwargs):
        stacks.append((list(configs), kwargs))
        return inner(configs, *args, **kwargs)

    engine.train.train_stacked = common.train_stacked = recorded
    return stacks, inner


def _member_cpu(stacks, train_stacked, clock=time.process_time) -> float:
    """Sum over the recorded stacks of K_i * c_i, with c_i from re-timing each stack whole and as a
    stack of one, callbacks off (a stack of one is timed as a stack of two against one)."""

    def cpu(configs, data, eval_train):
        t0 = clock()
        train_stacked(configs, data=data, eval_train=eval_train)
        return clock() - t0

    total = 0.0
    for configs, kwargs in list(stacks):
        k, data, eval_train = len(configs), kwargs.get("data"), kwargs.get("eval_train", True)
        if k == 1:
            configs = [configs[0], configs[0].replace(seed=configs[0].seed + 1)]
            data = data * 2 if isinstance(data, list) else data
        first = data[:1] if isinstance(data, list) else data  # one Split per member, or one for all
        c = (cpu(configs, data, eval_train) - cpu(configs[:1], first, eval_train)) / (len(configs) - 1)
        total += k * max(c, 0.0)
    return total


def _child(page, trained, reruns, cpu=False, seeds=None, floor=False):
    """Run ``page`` in this fresh process (with ``?run=1`` if ``trained``); print timings as JSON.
    With ``floor``, also the member CPU of its stacks (:func:`_member_cpu`), after the page's run."""
    from streamlit.testing.v1 import AppTest

    calls = _instrument(seeds) if cpu else []
    stacks, train_stacked = _record_stacks() if floor else ([], None)
    c0 = time.process_time()

    at = AppTest.from_file(str(ROOT / ENTRY), default_timeout=120)
    if page != ENTRY:
        at.switch_page(page)
    if trained:
        at.query_params["run"] = "1"
    t0 = time.perf_counter()
    at.run()
    cold = time.perf_counter() - t0
    cpu_s = time.process_time() - c0
    warm = []
    for _ in range(reruns):
        t0 = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - t0)
    errors = [str(e.value)[:200] for e in at.exception]
    n_charts = len(at.get("arrow_vega_lite_chart")) + len(at.get("vega_lite_chart"))
    engine_s = sum(t for _, t in calls)
    members = _member_cpu(stacks, train_stacked) if floor and trained else None
    print(
        json.dumps(
            {
                "cold": cold,
                "warm": statistics.median(warm) if warm else float("nan"),
                "errors": errors,
                "charts": n_charts,
                "cpu": cpu_s,
                "engine_cpu": engine_s,
                "calls": [name for name, _ in calls],
                "member_cpu": members,
            }
        )
    )


def run_child(page, trained=False, reruns=5, cpu=False, seeds=None, floor=False):
    env = dict(
        os.environ,
        TRAINING_EXPLORER_WARM="0",  # no background warm-up client
        TRAINING_EXPLORER_SHARED_RESULTS="0",  # "trained" trains: no result stored by an earlier process
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    if cpu:  # every run computes in the child, uncapped
        env.update(TRAINING_EXPLORER_WORKERS="0", TRAINING_EXPLORER_MAX_SECONDS="3600")
    cmd = [sys.executable, __file__, "--child", page, "--reruns", str(reruns)] + (["--trained"] if trained else [])
    cmd += (["--cpu"] if cpu else []) + (["--seeds", str(seeds)] if seeds is not None else [])
    cmd += ["--floor"] if floor else []
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        nan = float("nan")
        return {
            "cold": nan,
            "warm": nan,
            "errors": [out.stderr.strip()[-300:]],
            "charts": 0,
            "cpu": nan,
            "engine_cpu": nan,
            "calls": [],
            "member_cpu": nan,
        }
    return json.loads(lines[-1])


def _press(page, repeat, seeds, floor=False) -> dict:
    """A page's default Train press: the medians over ``repeat`` fresh process pairs (without and
    with ``?run=1``) of its process CPU (trained - cold), its engine CPU and, with ``floor``, its
    stacks' member CPU."""
    pairs = [
        (
            run_child(page, reruns=0, cpu=True, seeds=seeds),
            run_child(page, trained=True, reruns=0, cpu=True, seeds=seeds, floor=floor),
        )
        for _ in range(repeat)
    ]
    return {
        "cpu": statistics.median(t["cpu"] - c["cpu"] for c, t in pairs),
        "engine_cpu": statistics.median(t["engine_cpu"] for _, t in pairs),
        "member_cpu": statistics.median(t["member_cpu"] for _, t in pairs) if floor else None,
        "calls": pairs[0][1]["calls"],
        "errors": sorted({e for c, t in pairs for e in c["errors"] + t["errors"]}),
    }


def cpu_main(pages, args):
    """The ``--cpu`` table: CPU seconds of each page's default Train press (see the module doc)."""
    print(
        f"CPU seconds of each page's ?run=1 run; seeds={args.seeds if args.seeds is not None else 'default'}; "
        f"median of {args.repeat} fresh process pair(s) per page"
    )
    print("| page | trained - cold (process CPU) | in engine calls | calls | ok |")
    print("|---|---:|---:|---:|---|")
    results = []
    for page in pages:
        row = {"page": page, **_press(page, args.repeat, args.seeds)}
        results.append(row)
        note = "yes" if not row["errors"] else "NO (" + "; ".join(row["errors"]) + ")"
        print(f"| {page} | {row['cpu']:.2f} s | {row['engine_cpu']:.2f} s | {len(row['calls'])} | {note} |", flush=True)
    print(f"| total | {sum(r['cpu'] for r in results):.2f} s | {sum(r['engine_cpu'] for r in results):.2f} s | | |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0 if all(not r["errors"] for r in results) else 1


def floor_main(pages, args):
    """The ``--floor`` table: each page's Train press with 3 seeds against 1, and the stacking floor."""
    print(f"CPU seconds of each page's ?run=1 run, 3 seeds and 1; median of {args.repeat} fresh process pair(s)")
    print(
        "| page | press, 3 seeds | press, 1 seed | 3 / 1 | engine, 3 seeds | engine, 1 seed | 3 / 1 "
        "| member CPU C | floor (o + 3C) / (o + C) | engine 3 / 1 over floor |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    results, ok = [], True

    for page in pages:
        three, one = _press(page, args.repeat, 3), _press(page, args.repeat, 1, floor=True)
        row = {"page": page, "seeds_3": three, "seeds_1": one, "errors": three["errors"] + one["errors"]}
        ok &= not row["errors"]
        results.append(row)
        if one["engine_cpu"] <= 0 or row["errors"]:
            print(f"| {page} | no training run or an error: {'; '.join(row['errors'])} |", flush=True)
            continue
        # o = the 1-seed press's engine CPU that is not its members' compute
        row["floor"] = (one["engine_cpu"] + 2 * one["member_cpu"]) / one["engine_cpu"]
        engine_ratio = three["engine_cpu"] / one["engine_cpu"]
        print(
            f"| {page} | {three['cpu']:.2f} s | {one['cpu']:.2f} s | {three['cpu'] / one['cpu']:.2f} "
            f"| {three['engine_cpu']:.2f} s | {one['engine_cpu']:.2f} s | {engine_ratio:.2f} "
            f"| {one['member_cpu']:.2f} s "
            f"| {row['floor']:.2f} | {engine_ratio / row['floor']:.2f} |",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--trained", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pages", help="comma-separated page files (default: all, discovered)")
    ap.add_argument("--repeat", type=int, default=1, help="fresh processes per page (median)")
    ap.add_argument("--reruns", type=int, default=5, help="warm reruns per process (median)")
    ap.add_argument("--cpu", action="store_true", help="report the CPU seconds of each page's ?run=1 run instead")
    ap.add_argument("--seeds", type=int, help="pass seeds=N to every experiment that takes seeds (with --cpu)")
    ap.add_argument("--floor", action="store_true", help="3 seeds against 1 and the stacking floor, per page")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    if args.child:
        sys.path.insert(0, str(ROOT))
        return _child(args.child, args.trained, args.reruns, args.cpu, args.seeds, args.floor)

    pages = args.pages.split(",") if args.pages else discover()
    if args.floor:
        return floor_main(pages, args)
    if args.cpu:
        return cpu_main(pages, args)
    print(f"targets: cold <= {COLD_TARGET} s, warm <= {WARM_TARGET} s; {args.repeat} fresh process(es) per page")
    print(
        "| page | cold (first run, fresh process) | trained (first run with ?run=1) | warm (rerun, trained) "
        "| charts | ok |"
    )
    print("|---|---:|---:|---:|---:|---|")
    results, ok_all = [], True
    for page in pages:
        cold = [run_child(page, reruns=1) for _ in range(args.repeat)]
        trained = [run_child(page, trained=True, reruns=args.reruns) for _ in range(args.repeat)]
        row = {
            "page": page,
            "cold": statistics.median(r["cold"] for r in cold),
            "trained": statistics.median(r["cold"] for r in trained),
            "warm": statistics.median(r["warm"] for r in trained),
            "charts": trained[0]["charts"],
            "errors": sorted({e for r in cold + trained for e in r["errors"]}),
        }
        row["ok"] = row["cold"] <= COLD_TARGET and row["warm"] <= WARM_TARGET and not row["errors"]
        ok_all &= row["ok"]
        results.append(row)
        note = "yes" if row["ok"] else "NO" + (f" ({'; '.join(row['errors'])})" if row["errors"] else "")
        print(
            f"| {page} | {row['cold']:.2f} s | {row['trained']:.2f} s | {row['warm']:.3f} s | {row['charts']} | "
            f"{note} |",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
