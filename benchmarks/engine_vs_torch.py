"""Engine vs PyTorch CPU: seconds per epoch of the same training run, and the matmul limit.

Both sides train the same MLP (``depth`` x [Linear -> BatchNorm -> ReLU], then a Linear; He
init, Adam lr 1e-3, constant lr) on the same data (``engine.datasets.load("digits")``), with the
same batch size, tracking the training loss and accuracy and running a validation pass every
epoch. The engine side is ``engine.train.train`` itself (per-layer diagnostics included); the
PyTorch side is a plain PyTorch 2.13 CPU loop with ``torch.set_num_threads(2)``. NumPy's BLAS is
limited to 2 threads too (threadpoolctl).

Each side runs in its own worker process, so neither one's idle threads compete with the other;
the parent interleaves the runs (engine, torch, matmul loop; the order alternates every round)
and reports, per configuration, the median engine/torch ratio over the rounds.

The matmul limit is a pure NumPy loop over exactly the matmuls one epoch of training does
(forward ``x @ W``, backward ``x.T @ dy`` and ``dy @ W.T`` per Linear per step, plus the
validation forward), same dtype (float32), same threads, outputs preallocated. "% of limit" is
that loop's time over the engine's epoch time: the share of the machine's matmul speed the whole
training loop achieves.

    python benchmarks/engine_vs_torch.py                      # all configurations
    python benchmarks/engine_vs_torch.py --rounds 9 --json /tmp/bench.json
    python benchmarks/engine_vs_torch.py --configs 10x512x64 --rounds 3

OpenBLAS: on some processors ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` are set in the
environment for older OpenBLAS builds. The report says whether they were set and which kernel
ran; to benchmark without them, unset both for this one command only:
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/engine_vs_torch.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THREADS = 2
#: (depth, width, batch size) of each configuration the issue asks for.
CONFIGS = [(20, 128, 64), (50, 128, 64), (10, 512, 64), (10, 128, 256)]
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# ----------------------------------------------------------------------------- shared helpers


def _load_data():
    from engine.datasets import load

    return load("digits", seed=0)


def _batches(n, bs):
    """Start indices of the mini-batches, as ``engine.train.train`` makes them (BN drops a batch of 1)."""
    starts = list(range(0, n, bs))
    if n - starts[-1] < 2 and len(starts) > 1:
        starts.pop()
    return [min(bs, n - s) for s in starts]


def _linear_shapes(depth, width, n_in, n_out):
    sizes = [n_in] + [width] * depth + [n_out]
    return list(zip(sizes[:-1], sizes[1:]))


def epoch_flops(depth, width, bs, n_train, n_val, n_in=64, n_out=10):
    """Matmul FLOPs of one epoch: 3 matmuls of 2*m*n*k per Linear per step, plus the validation forward."""
    macs = sum(fi * fo for fi, fo in _linear_shapes(depth, width, n_in, n_out))
    return 2.0 * macs * (3 * sum(_batches(n_train, bs)) + n_val)


# ----------------------------------------------------------------------------- workers


def _engine_worker():
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(THREADS, user_api="blas")
    from engine.train import TrainConfig, train

    split = _load_data()
    info = [
        {k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for d in threadpool_info()
        if d.get("user_api") == "blas"
    ]
    _send({"numpy": np.__version__, "blas": info, "env": {v: os.environ.get(v) for v in OPENBLAS_VARS}})
    rng = np.random.default_rng(0)
    loops = {}
    for msg in _receive():
        depth, width, bs, epochs = msg["depth"], msg["width"], msg["batch"], msg["epochs"]
        if msg["cmd"] == "train":
            cfg = TrainConfig(
                depth=depth, width=width, batch_size=bs, epochs=epochs, activation="relu", init="he",
                batch_norm=True, optimizer="adam", lr=1e-3, schedule="constant", seed=0,
            )
            t0 = time.perf_counter()
            hist = train(cfg, data=split)
            seconds = time.perf_counter() - t0
            _send({"seconds": seconds, "val_acc": hist.val_acc[-1]})
        else:  # the pure matmul loop over one epoch's shapes
            key = (depth, width, bs)
            if key not in loops:
                loops[key] = _matmul_loop(rng, depth, width, bs, len(split.y_train), len(split.y_val))
            run = loops[key]
            run()  # warm
            t0 = time.perf_counter()
            for _ in range(epochs):
                run()
            _send({"seconds": time.perf_counter() - t0})


def _matmul_loop(rng, depth, width, bs, n_train, n_val):
    """A function doing exactly one epoch's training + validation matmuls (float32, out= buffers)."""
    import numpy as np

    f32 = np.float32
    shapes = _linear_shapes(depth, width, 64, 10)
    Ws = [rng.standard_normal((fi, fo)).astype(f32) for fi, fo in shapes]
    sizes = _batches(n_train, bs)
    bufs = {}
    for m in set(sizes) | {n_val}:
        bufs[m] = [
            (
                rng.standard_normal((m, fi)).astype(f32),  # x
                np.empty((m, fo), f32),  # y
                rng.standard_normal((m, fo)).astype(f32),  # dy
                np.empty((fi, fo), f32),  # dW
                np.empty((m, fi), f32),  # dx
            )
            for fi, fo in shapes
        ]

    def run():
        for m in sizes:
            layers = bufs[m]
            for W, (x, y, _, _, _) in zip(Ws, layers):
                np.matmul(x, W, out=y)
            for W, (x, _, dy, dW, dx) in zip(Ws[::-1], layers[::-1]):
                np.matmul(x.T, dy, out=dW)
                np.matmul(dy, W.T, out=dx)
        for W, (x, y, _, _, _) in zip(Ws, bufs[n_val]):
            np.matmul(x, W, out=y)

    return run


def _torch_worker():
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(THREADS)
    split = _load_data()
    Xtr = torch.from_numpy(split.X_train.astype("float32"))
    ytr = torch.from_numpy(split.y_train)
    Xva = torch.from_numpy(split.X_val.astype("float32"))
    yva = torch.from_numpy(split.y_val)
    _send({"torch": torch.__version__, "threads": torch.get_num_threads()})
    for msg in _receive():
        depth, width, bs, epochs = msg["depth"], msg["width"], msg["batch"], msg["epochs"]
        t0 = time.perf_counter()
        torch.manual_seed(0)
        layers, fan_in = [], Xtr.shape[1]
        for _ in range(depth):
            lin = nn.Linear(fan_in, width, bias=False)
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")  # std sqrt(2/fan_in), as "he"
            layers += [lin, nn.BatchNorm1d(width), nn.ReLU()]
            fan_in = width
        out = nn.Linear(fan_in, 10)
        nn.init.kaiming_normal_(out.weight, nonlinearity="relu")
        nn.init.zeros_(out.bias)
        model = nn.Sequential(*layers, out)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        gen = torch.Generator().manual_seed(1)
        n = len(ytr)
        starts = list(range(0, n, bs))
        if n - starts[-1] < 2 and len(starts) > 1:
            starts.pop()
        for _ in range(epochs):
            model.train()
            order = torch.randperm(n, generator=gen)
            loss_sum, correct, seen = 0.0, 0, 0
            for s in starts:
                idx = order[s : s + bs]
                xb, yb = Xtr[idx], ytr[idx]
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += loss.item() * len(idx)
                correct += int((logits.argmax(1) == yb).sum())
                seen += len(idx)
            model.eval()
            with torch.no_grad():
                logits = model(Xva)
                val_loss = F.cross_entropy(logits, yva).item()
                val_acc = (logits.argmax(1) == yva).float().mean().item()
        _send({"seconds": time.perf_counter() - t0, "val_acc": val_acc, "val_loss": val_loss})


def _send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _receive():
    for line in sys.stdin:
        if line.strip():
            yield json.loads(line)


# ----------------------------------------------------------------------------- parent


class Worker:
    """A worker process answering one JSON request per line."""

    def __init__(self, kind, env):
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", kind],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT,
        )
        self.info = self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with {self.proc.wait()}")
        return json.loads(line)

    def ask(self, **msg):
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", choices=["engine", "torch"], help=argparse.SUPPRESS)
    ap.add_argument("--configs", default="all", help="comma-separated DEPTHxWIDTHxBATCH, or 'all'")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds per configuration")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per timed run")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    if args.worker:
        sys.path.insert(0, str(ROOT))
        return _engine_worker() if args.worker == "engine" else _torch_worker()

    configs = CONFIGS
    if args.configs != "all":
        configs = [tuple(int(v) for v in c.split("x")) for c in args.configs.split(",")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    eng, tor = Worker("engine", env), Worker("torch", env)
    split = None
    try:
        blas = eng.info["blas"]
        print(f"CPU: {_cpu_name()}, {os.cpu_count()} logical CPUs")
        print(f"numpy {eng.info['numpy']}, BLAS: " + "; ".join(
            f"{b['internal_api']} {b['version']} kernel={b['architecture']} threads={b['num_threads']}" for b in blas
        ))
        print(f"torch {tor.info['torch']}, threads={tor.info['threads']}")
        print("OpenBLAS env: " + ", ".join(f"{k}={v!r}" if v is not None else f"{k} unset"
                                           for k, v in eng.info["env"].items()))
        split = _load_data()
        n_train, n_val = len(split.y_train), len(split.y_val)
        results = []
        for depth, width, bs in configs:
            msg = {"depth": depth, "width": width, "batch": bs, "epochs": args.epochs}
            eng.ask(cmd="train", **dict(msg, epochs=1))  # warm-up: caches, BLAS threads
            tor.ask(**dict(msg, epochs=1))
            e_s, t_s, m_s, ratios, accs = [], [], [], [], []
            for r in range(args.rounds):
                if r % 2 == 0:
                    e = eng.ask(cmd="train", **msg)
                    t = tor.ask(**msg)
                else:
                    t = tor.ask(**msg)
                    e = eng.ask(cmd="train", **msg)
                m = eng.ask(cmd="matmul", **msg)
                e_s.append(e["seconds"] / args.epochs)
                t_s.append(t["seconds"] / args.epochs)
                m_s.append(m["seconds"] / args.epochs)
                ratios.append(e["seconds"] / t["seconds"])
                accs.append((e["val_acc"], t["val_acc"]))
            flops = epoch_flops(depth, width, bs, n_train, n_val)
            e_med, t_med, m_med = (statistics.median(v) for v in (e_s, t_s, m_s))
            row = {
                "config": f"depth {depth} width {width} batch {bs}",
                "depth": depth, "width": width, "batch": bs,
                "engine_s_per_epoch": e_med, "torch_s_per_epoch": t_med,
                "ratio": statistics.median(ratios),
                "ratios": ratios,
                "engine_gflops": flops / e_med / 1e9, "torch_gflops": flops / t_med / 1e9,
                "matmul_gflops": flops / m_med / 1e9, "pct_of_matmul": 100.0 * m_med / e_med,
                "val_acc_engine_torch": accs[-1],
            }
            results.append(row)
            print(
                f"{row['config']}: engine {e_med:.3f} s/epoch, torch {t_med:.3f} s/epoch, "
                f"ratio {row['ratio']:.2f} (rounds: {', '.join(f'{x:.2f}' for x in ratios)}), "
                f"{row['engine_gflops']:.1f} GFLOP/s = {row['pct_of_matmul']:.0f}% of the matmul loop "
                f"({row['matmul_gflops']:.1f}); val acc engine {accs[-1][0]:.3f} torch {accs[-1][1]:.3f}",
                flush=True,
            )
    finally:
        eng.close()
        tor.close()

    print()
    print("| configuration | engine s/epoch | torch s/epoch | engine/torch (median) | engine GFLOP/s | "
          "matmul loop GFLOP/s | % of matmul limit |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in results:
        print(
            f"| {row['config']} | {row['engine_s_per_epoch']:.3f} | {row['torch_s_per_epoch']:.3f} | "
            f"{row['ratio']:.2f} | {row['engine_gflops']:.1f} | {row['matmul_gflops']:.1f} | "
            f"{row['pct_of_matmul']:.0f}% |"
        )
    if args.json:
        meta = {"engine": eng.info, "torch": tor.info, "cpu": _cpu_name(), "rounds": args.rounds,
                "epochs": args.epochs}
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
