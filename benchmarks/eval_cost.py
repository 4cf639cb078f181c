"""What the eval-mode pass over the training split costs: ``train(eval_train=True)`` against
``eval_train=False``, as a share of one epoch.

Since train metrics are measured in eval mode on the whole training split after every epoch
(``History.train_loss``/``train_acc``), each epoch runs one extra forward pass over that split.
This times, in one process and in alternating order, the same runs with and without it, and
reports the median of the per-round ratios (process CPU time with ``--cpu``). The extra cost as
a share of an epoch is ``ratio - 1``; the target is under a third.

    python benchmarks/eval_cost.py                 # widths 64 and 256, 5 rounds
    python benchmarks/eval_cost.py --rounds 9 --cpu
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.datasets import load  # noqa: E402
from engine.train import TrainConfig, train  # noqa: E402

#: The shapes the lessons train most: the Full recipe's default and the Dropout page's wide net.
CASES = {
    "depth 10, width 64, BN, batch 64": TrainConfig(depth=10, width=64, epochs=5),
    "depth 2, width 256, dropout 0.5, batch 32": TrainConfig(
        depth=2, width=256, dropout=0.5, batch_norm=False, epochs=5, batch_size=32
    ),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cpu", action="store_true", help="process CPU time instead of wall-clock")
    args = ap.parse_args(argv)
    clock = time.process_time if args.cpu else time.perf_counter
    data = load("digits", 0)
    print(f"{'case':45s} {'with / without':>15s} {'range':>13s}")
    for name, cfg in CASES.items():
        ratios = []
        train(cfg, data=data)  # warm caches
        for r in range(args.rounds):
            t = {}
            for on in (True, False) if r % 2 == 0 else (False, True):
                t0 = clock()
                train(cfg, data=data, eval_train=on)
                t[on] = clock() - t0
            ratios.append(t[True] / t[False])
        print(f"{name:45s} {statistics.median(ratios):15.3f} {min(ratios):6.3f}-{max(ratios):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
