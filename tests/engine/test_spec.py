"""engine.spec: each parameter type checks, converts, describes itself and parses CLI strings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import spec as S
from engine.datasets import n_train_available
from engine.experiments import REGISTRY
from engine.experiments.common import experiment, params_of, spec_of
from engine.train import LIMITS, TRAIN_SPEC


def test_int_checks_converts_and_names_the_range():
    p = S.Int(1, 100)
    assert p.check("depth", np.int64(7)) == 7 and type(p.check("depth", np.int64(7))) is int
    for bad in (0, 101, 2.0, True, "3", None, math.nan):
        with pytest.raises(ValueError, match=r"^depth must be an integer in \[1, 100\]; got "):
            p.check("depth", bad)
    with pytest.raises(ValueError, match=r"^depth must be an integer in \[1, 100\]; got 0$"):
        p.check("depth", 0)
    assert p.describe() == "integer in [1, 100]"
    assert p.parse("12") == 12
    with pytest.raises(ValueError):
        p.parse("1.5")


def test_float_bounds_and_open_lower_end():
    p = S.Float(0.0, 1.0, lo_open=True)
    assert p.check("decay", 1) == 1.0 and type(p.check("decay", 1)) is float
    for bad in (0.0, 1.01, math.inf, -math.inf, math.nan, False):
        with pytest.raises(ValueError, match=r"^decay must be a number in \(0.0, 1.0\]"):
            p.check("decay", bad)
    assert S.Float(0, 0.9).describe() == "number in [0, 0.9]"
    assert p.parse("1e-3") == 0.001


def test_bool_oneof_and_optional():
    assert S.Bool().check("bn", np.bool_(True)) is True
    with pytest.raises(ValueError, match="^bn must be True or False; got 1$"):
        S.Bool().check("bn", 1)
    assert [S.Bool().parse(t) for t in ("yes", "Off", "1", "false")] == [True, False, True, False]
    one = S.OneOf("adam", "sgd")
    assert one.describe() == "one of adam, sgd"
    with pytest.raises(ValueError, match="^opt must be one of adam, sgd; got 'x'$"):
        one.check("opt", "x")
    opt = S.Optional(S.Int(1, 5), "off")
    assert opt.check("p", None) is None and opt.check("p", 5) == 5
    assert opt.parse("none") is None and opt.parse("3") == 3
    assert opt.describe() == "integer in [1, 5], or none (off)"


def test_oneof_reads_a_registry_when_used():
    registry = {"a": 1}
    one, later = S.OneOf(registry), S.OneOf(lambda: tuple(registry))
    registry["b"] = 2  # added after the spec was built
    assert one.check("x", "b") == "b" and later.check("x", "b") == "b"
    assert one.describe() == "one of a, b"


def test_listof_length_uniqueness_order_and_parse():
    p = S.ListOf(S.Float(0, 0.9), min_len=1, max_len=10, sort=True)
    assert p.describe() == "list of 1-10 numbers in [0, 0.9]"
    assert p.check("rates", [0.5, 0.1, 0.5]) == (0.1, 0.5)
    assert p.check("rates", 0.3) == (0.3,)  # one bare value is a list of one
    with pytest.raises(ValueError, match=r"^rates must be a list of 1-10 numbers in \[0, 0.9\]; got 0 items"):
        p.check("rates", ())
    with pytest.raises(ValueError, match=r"^rates must be a number in \[0, 0.9\]; got 0.95"):
        p.check("rates", (0.1, 0.95))
    assert p.parse("0.2,0.3,") == (0.2, 0.3)
    keep = S.ListOf(S.Int(1, 9), min_len=0, unique=False)
    assert keep.check("h", (3, 1, 3)) == (3, 1, 3) and keep.describe() == "list of integers in [1, 9]"


def test_callable_bounds_are_read_at_validation_time():
    p = S.Int(10, lambda v: n_train_available(v["dataset"]))
    hi = n_train_available("moons")
    assert p.check("n_train", hi, {"dataset": "moons"}) == hi
    with pytest.raises(ValueError, match=rf"n_train must be an integer in \[10, {hi}\]; got {hi + 1}"):
        p.check("n_train", hi + 1, {"dataset": "moons"})
    # TrainConfig's n_train limit is the split's size, read when used, not a stored number
    assert LIMITS["n_train"] == (10, n_train_available("digits"))


def test_validate_checks_in_order_so_later_bounds_see_earlier_values():
    spec = {"epochs": S.Int(1, 500), "warmup": S.Int(0, lambda v: v["epochs"] - 1)}
    assert S.validate(spec, {"epochs": np.int32(10), "warmup": 9, "other": "x"}) == {
        "epochs": 10,
        "warmup": 9,
        "other": "x",
    }
    with pytest.raises(ValueError, match=r"warmup must be an integer in \[0, 9\]; got 10"):
        S.validate(spec, {"epochs": 10, "warmup": 10})


def test_train_spec_covers_every_field_and_label_noise():
    from dataclasses import fields

    from engine.train import TrainConfig

    assert list(TRAIN_SPEC) == [f.name for f in fields(TrainConfig)]
    assert TrainConfig(label_noise=0.5).label_noise == 0.5
    for bad in (-0.1, 0.51, "0.1"):
        with pytest.raises(ValueError, match=r"^label_noise must be a number in \[0.0, 0.5\]"):
            TrainConfig(label_noise=bad)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_experiment_has_a_spec_for_each_parameter(name):
    fn = REGISTRY[name]
    assert list(spec_of(fn)) == list(params_of(fn))
    for k, default in params_of(fn).items():  # every default satisfies its own spec
        spec_of(fn)[k].check(k, default, params_of(fn))


def test_experiment_checks_before_the_body_runs(monkeypatch):
    calls = []
    monkeypatch.setitem(REGISTRY, "spec_probe", None)

    @experiment("spec_probe", n=S.Int(1, 3), names=S.ListOf(S.OneOf("a", "b")))
    def probe(n: int = 1, names: tuple = ("a",), progress=None):
        calls.append((n, names))

    probe(np.int64(2), names="b")
    assert calls == [(2, ("b",))] and type(calls[0][0]) is int
    with pytest.raises(ValueError, match=r"^n must be an integer in \[1, 3\]; got 4$"):
        probe(n=4)
    assert len(calls) == 1  # the body never ran
    with pytest.raises(TypeError, match="spec and parameters differ"):
        experiment("spec_probe", n=S.Int(1, 3))(lambda n=1, m=2, progress=None: None)
