"""The command line: ``python -m engine list`` and ``python -m engine run NAME [--param value] --format``.

Real subprocesses for what a user sees (exit codes, no tracebacks), plus in-process checks of the
parsing and output formats with a throw-away experiment registered for the test.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from engine.__main__ import main
from engine.experiments import REGISTRY, Result
from engine.experiments.common import experiment, params_of, spec_of
from engine.optim import OPTIMIZERS
from engine.spec import Bool, Float, Int, ListOf, OneOf
from tests.conftest import ROOT

#: A cheap run of the "schedules" experiment (the real training experiment of the schedules page).
CHEAP_SCHEDULES = [
    "--schedules",
    "constant,cosine",
    "--epochs",
    "3",
    "--warmup-epochs",
    "1",
    "--depth",
    "2",
    "--width",
    "16",
    "--n-train",
    "100",
]


def cli(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def _no_nan(token):
    raise ValueError(f"non-standard JSON constant {token}")


def test_list_shows_every_experiment_and_its_parameters():
    proc = cli("list")
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines() if line and not line.startswith(" ")]
    assert names == list(REGISTRY)
    assert "schedules" in names
    for k in params_of(REGISTRY["schedules"]):
        assert f"--{k.replace('_', '-')} " in proc.stdout


def test_run_schedules_json():
    assert "schedules" in REGISTRY
    proc = cli("run", "schedules", *CHEAP_SCHEDULES, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout, parse_constant=_no_nan)  # strict JSON: no NaN / Infinity
    assert set(data) == {"experiment", "params", "tables", "summary"}
    assert data["experiment"] == "schedules"
    defaults = params_of(REGISTRY["schedules"])
    assert set(data["params"]) == set(defaults)
    assert (data["params"]["epochs"], data["params"]["depth"], data["params"]["n_train"]) == (3, 2, 100)
    assert data["params"]["schedules"] == ["constant", "cosine"]
    assert all(isinstance(rows, list) for rows in data["tables"].values())
    assert any(rows for rows in data["tables"].values())
    for rows in data["tables"].values():
        assert all(isinstance(r, dict) for r in rows)
        assert len({tuple(r) for r in rows}) <= 1  # tidy: every record has the same columns
    assert isinstance(data["summary"], dict) and data["summary"]


@pytest.mark.parametrize(
    "args, field",
    [
        (["run", "schedules", "--epochs", "-5"], "epochs"),  # the experiment's ValueError
        (["run", "schedules", "--epochs", "abc"], "--epochs"),  # argparse; more cases in process below
    ],
    ids=["out-of-range", "not-a-number"],
)
def test_bad_input_is_a_clear_error_without_traceback(args, field):
    proc = cli(*args)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert field in proc.stderr, proc.stderr
    assert proc.stdout.strip() == ""


# ------------------------------------------------------------------------------------------
# in process, with a throw-away experiment
# ------------------------------------------------------------------------------------------


def _fake(
    rates: tuple = (0.1, 0.5), n: int = 3, flag: bool = False, lr: float = 0.1, label: str = "a", progress=None
) -> Result:
    """Fake experiment for the CLI tests."""
    if lr == 0.5:  # a check of the body (the spec allows 0.5)
        raise ValueError(f"lr must not be 0.5; got {lr}")
    df = pd.DataFrame({"rate": list(rates) + [math.nan], "n": [n] * (len(rates) + 1)})
    return Result(tables={"t": df}, summary={"n": n, "flag": flag, "lr": lr, "label": label}, notes=["a note"])


FAKE_SPEC = dict(rates=ListOf(Float(0, 1)), n=Int(1, 9), flag=Bool(), lr=Float(0, 1), label=OneOf("a", "b"))


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setitem(REGISTRY, "fake_cli", None)  # removed again after the test
    experiment("fake_cli", **FAKE_SPEC)(_fake)
    return "fake_cli"


def test_params_are_parsed_to_the_default_types(fake, capsys):
    rc = main(
        [
            "run",
            fake,
            "--rates",
            "0.2,0.3,0.9",
            "--n",
            "4",
            "--flag",
            "yes",
            "--lr",
            "1e-3",
            "--label",
            "b",
            "--format",
            "json",
        ]
    )
    assert rc == 0
    data = json.loads(capsys.readouterr().out, parse_constant=_no_nan)
    assert data["params"] == {"rates": [0.2, 0.3, 0.9], "n": 4, "flag": True, "lr": 0.001, "label": "b"}
    assert data["summary"] == {"n": 4, "flag": True, "lr": 0.001, "label": "b"}
    assert data["tables"]["t"][-1]["rate"] is None  # NaN becomes null, never NaN
    assert [r["rate"] for r in data["tables"]["t"][:3]] == [0.2, 0.3, 0.9]


def test_table_and_csv_formats(fake, capsys):
    assert main(["run", fake, "--n", "2"]) == 0
    out = capsys.readouterr().out
    assert "== t ==" in out and "note: a note" in out and "n: 2" in out
    assert main(["run", fake, "--format", "csv"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "# t" and lines[1] == "rate,n"
    assert "# summary" in lines and "n,3" in lines
    parsed = pd.read_csv(pd.io.common.StringIO("\n".join(lines[1 : lines.index("# summary")])))
    np.testing.assert_allclose(parsed["rate"][:2], [0.1, 0.5])


def test_experiment_value_error_exits_2(fake, capsys):
    assert main(["run", fake, "--n", "0"]) == 2  # the spec's range
    assert capsys.readouterr().err == "error: n must be an integer in [1, 9]; got 0\n"
    assert main(["run", fake, "--label", "c"]) == 2
    assert capsys.readouterr().err == "error: label must be one of a, b; got 'c'\n"
    assert main(["run", fake, "--lr", "0.5"]) == 2  # the body's own check
    assert capsys.readouterr().err == "error: lr must not be 0.5; got 0.5\n"


def test_help_lists_every_parameter_with_type_range_and_default(fake, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", fake, "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--rates VALUE list of one or more numbers in [0, 1] (default: 0.1,0.5)" in out
    assert "--n VALUE integer in [1, 9] (default: 3)" in out
    assert "--flag VALUE true or false (default: false)" in out
    assert "--label VALUE one of a, b (default: a)" in out


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_experiment_help_lists_its_parameters(name, capsys):
    with pytest.raises(SystemExit):
        main(["run", name, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for k, param in spec_of(REGISTRY[name]).items():
        assert f"--{k.replace('_', '-')} VALUE {' '.join(param.describe().split())} (default:" in out


def test_list_shows_ranges(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "    --depth integer in [1, 100] (default: 10)" in out
    assert f"    --optimizer one of {', '.join(OPTIMIZERS)} (default: sgd)" in out  # batchnorm_lr's


UNPARSEABLE = [
    (["--n", "x"], "--n"),
    (["--flag", "maybe"], "--flag"),
    (["--nope", "1"], "--nope"),
    (["--n"], "--n"),
    (["--rates", "a,b"], "--rates"),
]


@pytest.mark.parametrize("args, field", UNPARSEABLE)
def test_unparseable_arguments_exit_2(fake, capsys, args, field):
    with pytest.raises(SystemExit) as exc:
        main(["run", fake, *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error" in err and field in err
    assert len(err.strip().splitlines()) == 1, err  # one line, no usage block


def test_unknown_experiment_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "no_such_experiment"])
    assert exc.value.code == 2
    assert "no_such_experiment" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name, args, baseline, seeded",
    [
        ("schedules", CHEAP_SCHEDULES, "constant", ()),
        ("recipe_compare", ["--depth", "2", "--width", "16", "--epochs", "2"], "modern", ()),
        ("ablation", ["--depth", "3", "--width", "16", "--epochs", "2"], "full recipe", ()),
        ("deep50", ["--depth", "4", "--width", "16", "--epochs", "2"], "plain", ()),
        ("init_training", ["--inits", "small,he", "--epochs", "2", "--depth", "3"], "he", ("runs",)),
        ("batchnorm_lr", ["--lrs", "0.1,1", "--depth", "3", "--width", "16", "--epochs", "2"], "no BN", ("sweep",)),
        ("batchnorm_shift", ["--depth", "3", "--width", "16", "--epochs", "2"], "no BN", ("runs",)),
        ("dropout", ["--n-train", "60", "--width", "32", "--epochs", "3", "--rates", "0,0.5"], "p=0", ("runs",)),
        (
            "early_stopping",
            ["--n-train", "100", "--depth", "2", "--width", "32", "--epochs", "5"],
            "last",
            ("runs", "replay"),
        ),
    ],
)
def test_comparisons_run_three_seeds_with_spread_and_beyond_noise(name, args, baseline, seeded):
    """Every comparison takes ``--seeds``: a seed column with three seeds in its per-seed tables
    (``seeded`` names some), and spread / beyond_noise for every variant in its summary (None only
    for the baseline)."""
    proc = cli("run", name, *args, "--seeds", "3", "--format", "json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout, parse_constant=_no_nan)
    with_seed = [rows for rows in data["tables"].values() if rows and "seed" in rows[0]]
    assert any(sorted({r["seed"] for r in rows}) == [0, 1, 2] for rows in with_seed)
    assert all({r["seed"] for r in rows} <= {0, 1, 2} for rows in with_seed)
    for table in seeded:
        assert sorted({r["seed"] for r in data["tables"][table]}) == [0, 1, 2]
    cmp = data["summary"]["comparison"]
    assert cmp["baseline"] == baseline and cmp["seeds"] == [0, 1, 2]
    assert cmp["beyond_noise"][baseline] is None
    others = [v for v in cmp["beyond_noise"] if v != baseline]
    assert others and all(isinstance(cmp["beyond_noise"][v], bool) for v in others)
    assert all(isinstance(cmp["spread"][v], float) for v in cmp["spread"])
