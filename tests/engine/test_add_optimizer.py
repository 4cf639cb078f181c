"""Adding an optimizer is one registry entry: a toy optimizer registered in a test, by registry only,
appears in the CLI, validates and trains in a TrainConfig, and is offered by the Full recipe page."""

from __future__ import annotations

import math

import pytest

import engine.optim as optim
from engine.__main__ import main
from engine.train import CHOICES, TrainConfig, train
from tests.apptest_helpers import run_page

TOY = "toy_sgd"


@pytest.fixture
def toy_optimizer(monkeypatch):
    """Register TOY (SGD with momentum 0.5) in the optimizer registry, and only there."""

    class ToySGD(optim.SGD):
        def __init__(self, params, grads, lr, weight_decay=0.0):
            super().__init__(params, grads, lr, momentum=0.5, weight_decay=weight_decay)

    monkeypatch.setitem(optim.OPTIMIZERS, TOY, ToySGD)  # the one registry: no fused twin needed
    return TOY


def test_toy_optimizer_is_in_the_cli_help(toy_optimizer, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "recipe", "--help"])  # the Full recipe page's experiment
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"--optimizer VALUE one of {', '.join(optim.OPTIMIZERS)} (default: adam)" in out
    assert f", {TOY} (default: adam)" in out
    assert TOY in CHOICES["optimizer"]


def test_toy_optimizer_validates_and_trains(toy_optimizer):
    cfg = TrainConfig(optimizer=TOY, dataset="moons", depth=2, width=8, epochs=1, lr=0.1, batch_norm=False)
    h = train(cfg)
    assert h.config.optimizer == TOY and len(h.epoch) == 1 and math.isfinite(h.train_loss[0])
    # momentum 0.5 lies between sgd's 0 and momentum's 0.9: the registry entry is the one used
    losses = [train(cfg.replace(optimizer=o, epochs=3)).train_loss[-1] for o in ("sgd", TOY, "momentum")]
    assert losses[0] > losses[1] > losses[2], losses


def test_toy_optimizer_gets_the_fallback_lr_grid_of_the_bn_sweep(toy_optimizer):
    from engine.experiments.batchnorm import DEFAULT_LRS, FALLBACK_LRS, default_lrs

    assert TOY not in DEFAULT_LRS and default_lrs(TOY) == FALLBACK_LRS
    assert default_lrs("sgd") == DEFAULT_LRS["sgd"]


def test_toy_optimizer_is_an_option_of_the_full_recipe_page(toy_optimizer):
    at = run_page("pages/7_Full_recipe.py", {"run": None})
    assert not at.exception, at.exception
    assert TOY in at.selectbox(key="opt").options


def test_unknown_optimizer_is_refused_after_the_fixture():
    with pytest.raises(ValueError, match=f"optimizer must be one of .*; got '{TOY}'"):
        TrainConfig(optimizer=TOY)
