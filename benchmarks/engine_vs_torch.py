"""Engine vs PyTorch CPU: seconds per epoch of the same training run, and the matmul limit.

Both sides train the same MLP (``depth`` x [Linear -> BatchNorm -> ReLU], then a Linear; He
init, Adam lr 1e-3, constant lr) on the same data (``engine.datasets.load("digits")``), with the
same batch size, tracking the running training loss and accuracy and, at the end of every
epoch, evaluating the training, validation and test splits in eval mode (the engine's default
protocol). The engine side is ``engine.train.train`` itself (per-layer diagnostics included); the
PyTorch side is a plain PyTorch 2.13 CPU loop with ``torch.set_num_threads(2)``. NumPy's BLAS is
limited to 2 threads too (threadpoolctl). Both time everything from building the model on.

Each side runs in its own worker process, so neither one's idle threads compete with the other.
The parent interleaves the runs (engine then torch, torch then engine, alternately) and reports,
per configuration, the median of the per-round engine/torch ratios.

A shared machine disturbs the timing: with 2 threads on 2 cores, one busy core can make a run
several times slower. The parent measures, from /proc/stat, how many cores other processes used
during every run, and repeats a run (up to ``--retries`` times) while that exceeds
``--max-background``; the table reports the background load the kept runs saw.

The hardware limit: ``GFLOP/s`` is the matmul FLOPs of a training step (3 matmuls of 2*m*n*k
per Linear: ``x @ W``, ``x.T @ dy``, ``dy @ W.T``) over the time of the engine's step
(``engine.train.train_step``: forward, loss, backward, Adam step, with the BLAS threads
``engine.train.step_threads`` gives them, as in ``train``), and "% of matmul limit" compares it
with a pure NumPy loop doing exactly those matmuls (float32, 2 BLAS threads, outputs
preallocated), timed interleaved with the steps in the same process, and again in a process
with OpenBLAS's default spin (``OPENBLAS_THREAD_TIMEOUT`` 28; the engine shortens it, see
``engine.BLAS_SPIN``, which suits its step but slows a bare matmul loop a little): the limit is
the faster of the two loops. For scale, the same is reported for PyTorch's own training step
(forward, loss, ``zero_grad``, backward, ``Adam.step`` on the same batches), timed in blocks
that alternate with the engine's.

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
N_IN, N_OUT = 64, 10  # digits


# ----------------------------------------------------------------------------- shared helpers


def _load_data():
    from engine.datasets import load

    return load("digits", seed=0)


def _batch_starts(n, bs):
    """Mini-batch start indices as ``engine.train.train`` makes them (``engine.layers.batch_starts``:
    BatchNorm drops a batch of 1)."""
    try:
        from engine.layers import batch_starts
    except ImportError:  # an engine from before it (--engine-from): the same rule spelt out
        starts = list(range(0, n, bs))
        return starts[:-1] if n - starts[-1] < 2 and len(starts) > 1 else starts
    return batch_starts(n, bs)


def _step_batches(n, bs):
    """Index arrays of the full batches of one shuffled epoch: the batches both sides' training
    steps are timed on."""
    import numpy as np

    order = np.random.default_rng(0).permutation(n)
    return [order[s : s + bs] for s in _batch_starts(n, bs) if len(order[s : s + bs]) == bs]


def _linear_shapes(depth, width):
    sizes = [N_IN] + [width] * depth + [N_OUT]
    return list(zip(sizes[:-1], sizes[1:]))


def step_flops(depth, width, bs):
    """Matmul FLOPs of one training step: 3 matmuls of 2*m*n*k per Linear."""
    return 3 * 2.0 * bs * sum(fi * fo for fi, fo in _linear_shapes(depth, width))


def _config(depth, width, bs, epochs):
    from engine.train import TrainConfig

    return TrainConfig(
        depth=depth,
        width=width,
        batch_size=bs,
        epochs=epochs,
        activation="relu",
        init="he",
        batch_norm=True,
        optimizer="adam",
        lr=1e-3,
        schedule="constant",
        seed=0,
    )


# ----------------------------------------------------------------------------- workers


def _engine_worker():
    # isort: off
    import engine  # noqa: F401 - first: it sets OpenBLAS's spin before NumPy loads it
    import numpy as np

    # isort: on
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(THREADS, user_api="blas")
    from engine.train import train

    split = _load_data()
    info = [
        {k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for d in threadpool_info()
        if d.get("user_api") == "blas"
    ]
    try:
        from engine import fused as optim
    except ImportError:  # an engine from before engine.fused (--engine-from)
        from engine import optim

    _send(
        {
            "numpy": np.__version__,
            "blas": info,
            "env": {v: os.environ.get(v) for v in OPENBLAS_VARS},
            "optimizer_threads": getattr(optim, "THREADS", 1),
        }
    )
    for msg in _receive():
        depth, width, bs, epochs = msg["depth"], msg["width"], msg["batch"], msg["epochs"]
        if msg["cmd"] == "train":
            t0 = time.perf_counter()
            hist = train(_config(depth, width, bs, epochs), data=split)
            _send({"seconds": time.perf_counter() - t0, "val_acc": hist.val_acc[-1]})
        else:
            _send(_steps_vs_matmuls(split, depth, width, bs, msg["blocks"], msg.get("steps", True)))


def _steps_vs_matmuls(split, depth, width, bs, blocks, steps=True):
    """Median seconds per engine training step and per pure-matmul step, timed in alternating
    blocks (``steps=False``: the matmul loop alone)."""
    import numpy as np

    from engine.train import build_model, make_optimizer

    cfg = _config(depth, width, bs, 1)
    X, y = split.X_train.astype(np.float32), split.y_train
    try:  # the step engine.train.train runs (a stack of one, the fast path), with its BLAS threads
        from engine.fused import train_step
        from engine.network import MLP
        from engine.train import step_threads

        model = MLP(
            [N_IN] + [width] * depth + [N_OUT], batch_norm=True, rng=[np.random.default_rng(cfg.seed)], dtype=np.float32
        )
        opt = make_optimizer(cfg, [model.flat_params], [model.flat_grads])
        X, y = X[None], y[None]
    except ImportError:  # an engine from before engine.fused (--engine-from)
        model, opt = build_model(cfg, N_IN, N_OUT), make_optimizer(cfg)
        try:
            from engine.train import step_threads, train_step
        except ImportError:  # an engine from before them: the same step spelt out
            from contextlib import nullcontext

            from engine.losses import softmax_cross_entropy

            def step_threads(model, opt, bs):
                return nullcontext()

            def train_step(model, opt, xb, yb):
                logits = model.forward(xb, training=True)
                _, dlogits = softmax_cross_entropy(logits, yb)
                model.backward(dlogits)
                opt.step(model.layers)

    batches = _step_batches(X.shape[-2], bs)

    def train_steps():
        with step_threads(model, opt, bs):
            for idx in batches:
                train_step(model, opt, X[..., idx, :], y[..., idx])

    rng = np.random.default_rng(1)
    f32 = np.float32
    layers = [
        (
            rng.standard_normal((fi, fo)).astype(f32),  # W
            rng.standard_normal((bs, fi)).astype(f32),  # x
            np.empty((bs, fo), f32),  # y
            rng.standard_normal((bs, fo)).astype(f32),  # dy
            np.empty((fi, fo), f32),  # dW
            np.empty((bs, fi), f32),  # dx
        )
        for fi, fo in _linear_shapes(depth, width)
    ]

    def matmul_steps():
        for _ in batches:
            for W, x, out, *_ in layers:
                np.matmul(x, W, out=out)
            for W, x, _, dy, dW, dx in reversed(layers):
                np.matmul(x.T, dy, out=dW)
                np.matmul(dy, W.T, out=dx)

    if steps:
        train_steps()  # warm-up
    matmul_steps()
    step_t, mm_t = [], []
    for _ in range(blocks):
        for fn, acc in ((train_steps, step_t), (matmul_steps, mm_t))[0 if steps else 1 :]:
            t0 = time.perf_counter()
            fn()
            acc.append((time.perf_counter() - t0) / len(batches))
    return {"step": statistics.median(step_t) if steps else None, "matmul": statistics.median(mm_t)}


def _torch_model(depth, width):
    """The benchmark's MLP in PyTorch, seeded, with its Adam optimiser."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    layers, fan_in = [], N_IN
    for _ in range(depth):
        lin = nn.Linear(fan_in, width, bias=False)
        nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")  # std sqrt(2/fan_in), as "he"
        layers += [lin, nn.BatchNorm1d(width), nn.ReLU()]
        fan_in = width
    out = nn.Linear(fan_in, N_OUT)
    nn.init.kaiming_normal_(out.weight, nonlinearity="relu")
    nn.init.zeros_(out.bias)
    model = nn.Sequential(*layers, out)
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def _torch_worker():
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(THREADS)
    split = _load_data()
    Xtr = torch.from_numpy(split.X_train.astype("float32"))
    ytr = torch.from_numpy(split.y_train)
    Xva = torch.from_numpy(split.X_val.astype("float32"))
    yva = torch.from_numpy(split.y_val)
    Xte = torch.from_numpy(split.X_test.astype("float32"))
    yte = torch.from_numpy(split.y_test)
    _send({"torch": torch.__version__, "threads": torch.get_num_threads()})

    def step(model, opt, xb, yb):
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss, logits

    for msg in _receive():
        depth, width, bs, epochs = msg["depth"], msg["width"], msg["batch"], msg["epochs"]
        if msg.get("cmd") == "steps":  # PyTorch's own training step, timed as the engine's is
            model, opt = _torch_model(depth, width)
            model.train()
            batches = [torch.from_numpy(idx) for idx in _step_batches(len(ytr), bs)]
            times = []
            for block in range(msg["blocks"] + 1):  # the first block warms up
                t0 = time.perf_counter()
                for idx in batches:
                    step(model, opt, Xtr[idx], ytr[idx])
                if block:
                    times.append((time.perf_counter() - t0) / len(batches))
            _send({"step": statistics.median(times)})
            continue
        t0 = time.perf_counter()
        model, opt = _torch_model(depth, width)
        gen = torch.Generator().manual_seed(1)
        n = len(ytr)
        starts = _batch_starts(n, bs)
        for _ in range(epochs):
            model.train()
            order = torch.randperm(n, generator=gen)
            loss_sum, correct, seen = 0.0, 0, 0
            for s in starts:
                idx = order[s : s + bs]
                xb, yb = Xtr[idx], ytr[idx]
                loss, logits = step(model, opt, xb, yb)
                loss_sum += loss.item() * len(idx)
                correct += int((logits.argmax(1) == yb).sum())
                seen += len(idx)
            model.eval()  # the engine's end-of-epoch passes: train (eval mode), validation, test
            with torch.no_grad():
                for X, y in ((Xtr, ytr), (Xte, yte), (Xva, yva)):
                    logits = model(X)
                    val_loss = F.cross_entropy(logits, y).item()
                    val_acc = (logits.argmax(1) == y).float().mean().item()
        _send({"seconds": time.perf_counter() - t0, "val_acc": val_acc, "val_loss": val_loss})


def _send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _receive():
    for line in sys.stdin:
        if line.strip():
            yield json.loads(line)


# ----------------------------------------------------------------------------- parent


def _jiffies(pid):
    """(busy, total) jiffies of the whole machine and the CPU jiffies of process ``pid`` (all threads)."""
    cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    busy = sum(cpu) - cpu[3] - cpu[4]  # minus idle and iowait
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return busy, sum(cpu), int(fields[11]) + int(fields[12])  # utime + stime


class Worker:
    """A worker process answering one JSON request per line; measures the background load."""

    def __init__(self, kind, env, engine_from=str(ROOT)):
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", kind, "--engine-from", engine_from],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.info = self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with {self.proc.wait()}")
        return json.loads(line)

    def ask(self, **msg):
        """The worker's answer, with ``background``: cores other processes used meanwhile (None off Linux)."""
        try:
            before = _jiffies(self.proc.pid)
        except OSError:
            before = None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        answer = self._read()
        answer["background"] = None
        if before is not None:
            after = _jiffies(self.proc.pid)
            busy, total, own = (a - b for a, b in zip(after, before))
            answer["background"] = max(0.0, (busy - own) / max(total, 1) * os.cpu_count())
        return answer

    def ask_quiet(self, max_background, retries, **msg):
        """``ask``, repeated while other processes used more than ``max_background`` cores; the quietest answer."""
        best = None
        for _ in range(retries + 1):
            answer = self.ask(**msg)
            if best is None or (answer["background"] or 0) < (best["background"] or 0):
                best = answer
            if (answer["background"] or 0) <= max_background:
                break
        return best

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


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
    ap.add_argument("--rounds", type=int, default=9, help="interleaved rounds per configuration")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per timed run")
    ap.add_argument("--blocks", type=int, default=5, help="alternating blocks of steps / matmul loops")
    ap.add_argument(
        "--max-background",
        type=float,
        default=0.3,
        help="repeat a run when other processes used more cores than this meanwhile",
    )
    ap.add_argument("--retries", type=int, default=3, help="repeats of a disturbed run")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every run")
    ap.add_argument("--engine-from", default=str(ROOT), help="directory holding the engine package to time (A/B)")
    ap.add_argument(
        "--engine-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment variable for the engine worker only (repeatable)",
    )
    args = ap.parse_args(argv)
    if args.worker:
        sys.path.insert(0, args.engine_from)
        return _engine_worker() if args.worker == "engine" else _torch_worker()

    configs = CONFIGS
    if args.configs != "all":
        configs = [tuple(int(v) for v in c.split("x")) for c in args.configs.split(",")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    eng_env = dict(env, **dict(kv.split("=", 1) for kv in args.engine_env))
    eng, tor = Worker("engine", eng_env, args.engine_from), Worker("torch", env)
    # the matmul limit is the faster of the engine worker's loop and one with OpenBLAS's default spin
    # (idle threads spinning 2^28 cycles: slower for the engine's step, faster for a bare matmul loop)
    mm = Worker("engine", dict(env, OPENBLAS_THREAD_TIMEOUT="28"))
    quiet = {"max_background": args.max_background, "retries": args.retries}
    results = []
    try:
        blas = eng.info["blas"]
        print(f"CPU: {_cpu_name()}, {os.cpu_count()} logical CPUs")
        print(
            f"numpy {eng.info['numpy']}, BLAS: "
            + "; ".join(
                f"{b['internal_api']} {b['version']} kernel={b['architecture']} threads={b['num_threads']}"
                for b in blas
            )
        )
        print(
            f"engine optimizer threads={eng.info['optimizer_threads']}; torch {tor.info['torch']}, "
            f"threads={tor.info['threads']}"
        )
        if args.engine_env:
            print(f"engine worker environment: {' '.join(args.engine_env)}")
        print(
            "OpenBLAS env: "
            + ", ".join(f"{k}={v!r}" if v is not None else f"{k} unset" for k, v in eng.info["env"].items()),
            flush=True,
        )
        for depth, width, bs in configs:
            msg = {"depth": depth, "width": width, "batch": bs, "epochs": args.epochs}
            eng.ask(cmd="train", **dict(msg, epochs=1))  # warm-up: caches, BLAS threads, lazy imports
            tor.ask(**dict(msg, epochs=1))
            e_s, t_s, ratios, background = [], [], [], []
            for r in range(args.rounds):
                runs = [("e", eng, {"cmd": "train"}), ("t", tor, {})]
                got = {}
                for name, worker, extra in runs if r % 2 == 0 else runs[::-1]:
                    got[name] = worker.ask_quiet(**quiet, **msg, **extra)
                e, t = got["e"], got["t"]
                e_s.append(e["seconds"] / args.epochs)
                t_s.append(t["seconds"] / args.epochs)
                ratios.append(e["seconds"] / t["seconds"])
                background += [x["background"] for x in (e, t) if x["background"] is not None]
                if args.verbose:
                    print(
                        f"  round {r}: engine {e['seconds']:.3f} s (background {e['background']:.2f}), "
                        f"torch {t['seconds']:.3f} s (background {t['background']:.2f})",
                        flush=True,
                    )
            # the engine's step (beside its matmul loop) and PyTorch's, in alternating blocks
            pairs = [
                (
                    eng.ask_quiet(**quiet, cmd="steps", blocks=1, **msg),
                    tor.ask_quiet(**quiet, cmd="steps", blocks=1, **msg),
                )
                for _ in range(args.blocks)
            ]
            st = {k: statistics.median(e[k] for e, _ in pairs) for k in ("step", "matmul")}
            torch_step = statistics.median(t["step"] for _, t in pairs)
            loop = mm.ask_quiet(**quiet, cmd="steps", steps=False, blocks=args.blocks, **msg)
            st["matmul"] = min(st["matmul"], loop["matmul"])
            flops = step_flops(depth, width, bs)
            row = {
                "config": f"depth {depth} width {width} batch {bs}",
                "depth": depth,
                "width": width,
                "batch": bs,
                "engine_s_per_epoch": statistics.median(e_s),
                "torch_s_per_epoch": statistics.median(t_s),
                "ratio": statistics.median(ratios),
                "ratios": ratios,
                "step_ms": 1e3 * st["step"],
                "matmul_step_ms": 1e3 * st["matmul"],
                "step_gflops": flops / st["step"] / 1e9,
                "matmul_gflops": flops / st["matmul"] / 1e9,
                "pct_of_matmul": 100.0 * st["matmul"] / st["step"],
                "torch_step_ms": 1e3 * torch_step,
                "torch_step_gflops": flops / torch_step / 1e9,
                "torch_pct_of_matmul": 100.0 * st["matmul"] / torch_step,
                "background_cores": statistics.median(background) if background else None,
                "val_acc_engine": e["val_acc"],
                "val_acc_torch": t["val_acc"],
            }
            results.append(row)
            print(
                f"{row['config']}: engine {row['engine_s_per_epoch']:.3f} s/epoch, torch "
                f"{row['torch_s_per_epoch']:.3f} s/epoch, ratio {row['ratio']:.2f} "
                f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)}); step {row['step_ms']:.2f} ms = "
                f"{row['step_gflops']:.1f} GFLOP/s, {row['pct_of_matmul']:.0f}% of the matmul loop "
                f"({row['matmul_gflops']:.1f} GFLOP/s); torch step {row['torch_step_ms']:.2f} ms = "
                f"{row['torch_step_gflops']:.1f} GFLOP/s, {row['torch_pct_of_matmul']:.0f}%; "
                f"val acc engine {e['val_acc']:.3f} torch {t['val_acc']:.3f}; "
                f"background {row['background_cores']:.2f} cores",
                flush=True,
            )
    finally:
        for worker in (eng, tor, mm):
            worker.close()

    print()
    print(
        "| configuration | engine s/epoch | torch s/epoch | engine/torch (median) | step GFLOP/s | "
        "matmul loop GFLOP/s | % of matmul limit | torch step GFLOP/s (% of limit) | background cores |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in results:
        print(
            f"| {row['config']} | {row['engine_s_per_epoch']:.3f} | {row['torch_s_per_epoch']:.3f} | "
            f"{row['ratio']:.2f} | {row['step_gflops']:.1f} | {row['matmul_gflops']:.1f} | "
            f"{row['pct_of_matmul']:.0f}% | {row['torch_step_gflops']:.1f} ({row['torch_pct_of_matmul']:.0f}%) | "
            f"{row['background_cores']:.2f} |"
        )
    if args.json:
        meta = {"engine": eng.info, "torch": tor.info, "cpu": _cpu_name(), "argv": sys.argv[1:]}
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
