"""The compute and memory budget of the hosted demo (engine.budget)."""

import pytest

from engine import budget
from engine.train import TrainConfig


def test_flops_by_hand():
    # digits: 1079 training, 359 validation and 359 test samples (60/20/20 of 1797).
    # depth 2, width 10: macs = 64*10 + 1*10*10 + 10*10 = 840 per sample;
    # per epoch 6*1079 steps + 2*(1079 + 359 + 359) eval passes = 10_068 sample-passes;
    # 3 epochs -> 3 * 10_068 * 840 = 25_371_360
    cfg = TrainConfig(depth=2, width=10, epochs=3)
    assert budget.flops(cfg) == 25_371_360


def test_peak_bytes_by_hand():
    # depth 1, width 10, BN on, no dropout, no skips, batch 64 (the eval chunk min(1024, 1079) = 1024 wins):
    # params = 64*10 + 10*10 (weights) + 10 (output bias) + 2*10 (gamma, beta) = 770
    # bytes = 200 MiB + 26*770 + 4*(1+1+0)*1024*10*1 = 209_715_200 + 20_020 + 81_920 = 209_817_140
    cfg = TrainConfig(depth=1, width=10)
    assert budget.n_params(cfg) == 770
    assert budget.peak_bytes(cfg) == 209_817_140
    # on 100 training images the largest split is validation's 359 rows: 4*2*359*10 = 28_720
    assert budget.peak_bytes(cfg.replace(n_train=100)) == 209_715_200 + 20_020 + 28_720


def test_check_refuses_too_much_memory_and_names_what_to_reduce():
    cfg = TrainConfig(depth=100, width=480, epochs=1, batch_size=2048)  # within FLOPs, ~1.2 GiB
    assert budget.flops(cfg) <= budget.MAX_FLOPS
    with pytest.raises(ValueError, match=r"MiB of memory.*reduce depth \(100\) or width \(480\)"):
        budget.check(cfg)


def test_check_accepts_the_defaults_and_refuses_too_many_flops():
    budget.check(TrainConfig())
    with pytest.raises(ValueError, match="FLOPs"):
        budget.check(TrainConfig(depth=100, width=1024, epochs=500))


def test_a_stack_costs_k_members_and_grows_linearly():
    cfg = TrainConfig(depth=10, width=128)
    one, two, three = (budget.peak_bytes(cfg, members=k) for k in (1, 2, 3))
    # a stack adds, per member, its lone-shaped model (4 bytes a parameter) and its split (4 bytes a feature)
    per_member = 26 * budget.n_params(cfg) + 4 * (1 + 1) * 1024 * 128 * 10 + 4 * budget.n_params(cfg) + 4 * 1797 * 64
    assert three - two == per_member
    assert two - one == per_member + 4 * budget.n_params(cfg) + 4 * 1797 * 64
    assert budget.flops(cfg, members=5) == 5 * budget.flops(cfg)


def test_check_refuses_a_stack_over_the_memory_budget_and_says_how_many_fit():
    cfg = TrainConfig(depth=10, width=256, batch_size=512)
    k = budget.max_members(cfg)
    assert budget.peak_bytes(cfg, members=k) <= budget.MAX_BYTES < budget.peak_bytes(cfg, members=k + 1)
    budget.check(cfg, members=k)
    with pytest.raises(ValueError, match=rf"these {k + 1} runs trained together need .* at most {k} of them together"):
        budget.check(cfg, members=k + 1)
