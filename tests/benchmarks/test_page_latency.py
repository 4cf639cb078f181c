"""The stacking floor of ``benchmarks/page_latency.py --floor``, on a trainer with a known cost."""

from __future__ import annotations

from benchmarks import page_latency
from engine.train import TrainConfig


class Clock:
    """A CPU clock that only the fake trainer advances."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def fake_trainer(clock, overhead, per_member):
    calls = []

    def train_stacked(configs, data=None, eval_train=True):
        calls.append((len(configs), data))
        clock.now += overhead + per_member * len(configs)
        return [None] * len(configs)

    return train_stacked, calls


def test_member_cpu_is_members_times_their_own_cost():
    """Stacks of 3 and of 1 at o = 0.4 s, c = 0.25 s: C = 3c + 1c = 1.0 s, whatever o is. The
    stack of one is re-timed beside a stack of two (same data given to both members)."""
    clock = Clock()
    trainer, calls = fake_trainer(clock, overhead=0.4, per_member=0.25)
    cfg = TrainConfig(seed=5)
    split = object()
    stacks = [([cfg, cfg.replace(seed=6), cfg.replace(seed=7)], {}), ([cfg], {"data": split})]
    assert abs(page_latency._member_cpu(stacks, trainer, clock) - 1.0) < 1e-12
    assert [k for k, _ in calls] == [3, 1, 2, 1]
    assert calls[2][1] is split


def test_member_cpu_keeps_one_split_per_member():
    """A stack given one Split per member is re-timed with the first member's Split alone, and a
    stack of one doubles its list."""
    clock = Clock()
    trainer, calls = fake_trainer(clock, overhead=1.0, per_member=0.5)
    cfg = TrainConfig()
    a, b = object(), object()
    stacks = [([cfg, cfg.replace(seed=1)], {"data": [a, b]}), ([cfg], {"data": [a]})]
    assert abs(page_latency._member_cpu(stacks, trainer, clock) - 1.5) < 1e-12
    assert [d for _, d in calls] == [[a, b], [a], [a, a], [a]]
