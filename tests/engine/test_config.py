"""TrainConfig validates every field at the engine boundary; the LIMITS and CHOICES tables drive the cases."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from engine.datasets import n_train_available
from engine.train import CHOICES, LIMITS, RECIPES, TrainConfig

INTS = {f.name for f in dataclasses.fields(TrainConfig) if f.type in ("int", "int | None")}
OPTIONAL = {f.name for f in dataclasses.fields(TrainConfig) if f.default is None}
BOOLS = {f.name for f in dataclasses.fields(TrainConfig) if isinstance(f.default, bool)}


def base(name):
    """Keyword arguments that make ``name``'s upper limit the one in LIMITS."""
    # warmup_epochs may go up to epochs - 1: with the most epochs allowed that is LIMITS' 499
    return {"epochs": LIMITS["epochs"][1]} if name == "warmup_epochs" else {}


def bad_numbers(name):
    lo, hi = LIMITS[name]
    if name in INTS:
        out = [lo - 1, hi + 1, 2.5, float(lo), True, np.float64(lo)]
    else:
        out = [lo - max(abs(lo) * 0.5, 0.01), hi * 1.5 + 0.01, True]
    return out + [math.nan, math.inf, -math.inf, "1", [1], b"1"] + ([] if name in OPTIONAL else [None])


NUMBER_CASES = [(name, value) for name in LIMITS for value in bad_numbers(name)]


def test_every_field_is_validated():
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    assert names == set(LIMITS) | set(CHOICES) | BOOLS
    assert not set(LIMITS) & set(CHOICES)
    assert INTS and INTS <= set(LIMITS)


@pytest.mark.parametrize("name, value", NUMBER_CASES, ids=[f"{n}={v!r}" for n, v in NUMBER_CASES])
def test_bad_numbers_raise_naming_field_and_range(name, value):
    lo, hi = LIMITS[name]
    with pytest.raises(ValueError) as err:
        TrainConfig(**{**base(name), name: value})
    msg = str(err.value)
    assert msg.startswith(f"{name} must be"), msg
    assert f"[{lo}, {hi}]" in msg, msg


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_limits_are_inclusive_and_normalised(name):
    lo, hi = LIMITS[name]
    for value in (lo, hi, np.int64(lo) if name in INTS else np.float32(hi)):
        cfg = TrainConfig(**{**base(name), name: value})
        got = getattr(cfg, name)
        assert got == value
        assert type(got) is (int if name in INTS else float)  # plain Python numbers (JSON-able)
    if name in OPTIONAL:
        assert getattr(TrainConfig(**{name: None}), name) is None


def test_dependent_limits():
    assert LIMITS["n_train"][1] == n_train_available("digits")
    with pytest.raises(ValueError, match=r"warmup_epochs must be an integer in \[0, 9\]"):
        TrainConfig(epochs=10, warmup_epochs=10)
    assert TrainConfig(epochs=10, warmup_epochs=9).warmup == 9
    for epochs in (0, -5, 501, 2.5, True, math.nan):  # a bad epochs is reported as epochs, not as warmup
        with pytest.raises(ValueError, match=r"^epochs must be an integer in \[1, 500\]"):
            TrainConfig(epochs=epochs, warmup_epochs=3)
    hi = n_train_available("moons")
    with pytest.raises(ValueError, match=rf"n_train must be an integer in \[10, {hi}\]"):
        TrainConfig(dataset="moons", n_train=hi + 1)


CHOICE_CASES = [(name, value) for name in CHOICES for value in ("nope", "", name.upper(), 3, None, True)]


@pytest.mark.parametrize("name, value", CHOICE_CASES, ids=[f"{n}={v!r}" for n, v in CHOICE_CASES])
def test_unknown_choices_raise_listing_the_choices(name, value):
    with pytest.raises(ValueError) as err:
        TrainConfig(**{name: value})
    msg = str(err.value)
    assert msg.startswith(f"{name} must be one of"), msg
    assert all(choice in msg for choice in CHOICES[name]), msg


@pytest.mark.parametrize("name", sorted(CHOICES))
def test_every_choice_is_accepted(name):
    for value in CHOICES[name]:
        assert getattr(TrainConfig(**{name: value}), name) == value


@pytest.mark.parametrize("name", sorted(BOOLS))
@pytest.mark.parametrize("value", ["yes", "True", 1, 0, None, 1.0])
def test_bools_must_be_bools(name, value):
    with pytest.raises(ValueError, match=rf"^{name} must be True or False"):
        TrainConfig(**{name: value})
    assert getattr(TrainConfig(**{name: np.bool_(True)}), name) is True


def test_frozen_replace_and_recipes():
    cfg = TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.depth = 3
    assert cfg.replace(depth=3).depth == 3 and cfg.depth == 10
    with pytest.raises(ValueError, match="depth"):
        cfg.replace(depth=0)
    with pytest.raises(TypeError):
        TrainConfig(bogus=1)
    classic, modern = RECIPES["classic"], RECIPES["modern"]
    assert (classic.activation, classic.init, classic.batch_norm, classic.optimizer, classic.lr, classic.schedule) == (
        "sigmoid",
        "small",
        False,
        "sgd",
        0.1,
        "constant",
    )
    assert (modern.activation, modern.init, modern.batch_norm, modern.optimizer, modern.schedule) == (
        "relu",
        "he",
        True,
        "adam",
        "warmup_cosine",
    )
    assert TrainConfig(**cfg.to_dict()) == cfg
