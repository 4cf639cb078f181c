"""Command line: ``python -m engine list`` and ``python -m engine run EXPERIMENT [--param value ...]``."""

from __future__ import annotations

import argparse
import json
import os
import sys

# Small matrices: one BLAS thread (and one optimiser thread) is fastest and does not fight other
# processes for the cores. Set before NumPy loads; TRAINING_EXPLORER_BLAS_THREADS overrides it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, os.environ.get("TRAINING_EXPLORER_BLAS_THREADS", "1") or "1")

from engine.experiments import REGISTRY, run  # noqa: E402
from engine.experiments.common import params_of  # noqa: E402


def _parse_value(text: str, default):
    """Parse ``text`` to the type of ``default`` (None default: int, float, None or str)."""
    low = text.strip().lower()
    if isinstance(default, bool):
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false; got {text!r}")
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    if isinstance(default, (tuple, list)):
        return tuple(_parse_value(t, default[0] if default else None) for t in text.split(",") if t)
    if low == "none":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list experiments and their parameters")
    p_run = sub.add_parser("run", help="run one experiment and print its tables")
    p_run.add_argument("experiment", choices=sorted(REGISTRY))
    p_run.add_argument("--format", choices=("table", "json", "csv"), default="table")
    args, rest = parser.parse_known_args(argv)

    if args.cmd == "list":
        for name, fn in REGISTRY.items():
            doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
            print(f"{name:16s} {doc}")
            for k, v in params_of(fn).items():
                print(f"    --{k.replace('_', '-')} {v!r}")
        return 0

    fn = REGISTRY[args.experiment]
    defaults = params_of(fn)
    params = {}
    it = iter(rest)
    for tok in it:
        key = tok.lstrip("-").replace("-", "_")
        if not tok.startswith("--") or key not in defaults:
            parser.error(
                f"unknown parameter {tok!r}; {args.experiment} takes: "
                + ", ".join(f"--{k.replace('_', '-')}" for k in defaults)
            )
        try:
            params[key] = _parse_value(next(it), defaults[key])
        except StopIteration:
            parser.error(f"{tok} needs a value")
        except ValueError as e:
            parser.error(f"{tok}: {e}")
    try:
        result = run(args.experiment, **params)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    used = {**defaults, **params}
    if args.format == "json":
        json.dump(result.to_json_dict(args.experiment, used), sys.stdout, indent=1, default=str)
        print()
    elif args.format == "csv":
        for name, df in result.tables.items():
            print(f"# {name}")
            print(df.to_csv(index=False), end="")
        print("# summary")
        for k, v in result.summary.items():
            print(f"{k},{v}")
    else:
        for name, df in result.tables.items():
            print(f"== {name} ==")
            print(df.to_string(index=False, float_format=lambda x: f"{x:.6g}"))
            print()
        for note in result.notes:
            print(f"note: {note}")
        for k, v in result.summary.items():
            print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
