"""Command line: ``python -m engine list`` and ``python -m engine run EXPERIMENT [--param value ...]``.

``python -m engine run EXPERIMENT --help`` lists the experiment's parameters with their type,
range and default (from the experiment's spec, :mod:`engine.spec`).
"""

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
from engine.experiments.common import params_of, spec_of  # noqa: E402


def _cli_default(value) -> str:
    """A default as it is typed on the command line (lists comma-separated, None as none)."""
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value) or "(empty)"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _arg_type(param):
    """An argparse type parsing a string with ``param`` (a bad string is argparse's error)."""

    def parse(text):
        try:
            return param.parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


class _OneLineErrors(argparse.ArgumentParser):
    """A parser whose errors are one line on stderr (exit code 2), without the usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (--help lists the parameters)\n")


def _summary(fn) -> str:
    return (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""


def _experiment_parser(name: str) -> argparse.ArgumentParser:
    """The parser of ``run NAME``: one option per parameter, with its type, range and default."""
    fn = REGISTRY[name]
    parser = _OneLineErrors(prog=f"python -m engine run {name}", description=_summary(fn), allow_abbrev=False)
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    defaults = params_of(fn)
    for key, param in spec_of(fn).items():
        parser.add_argument(
            f"--{key.replace('_', '-')}",
            dest=key,
            type=_arg_type(param),
            default=argparse.SUPPRESS,
            metavar="VALUE",
            help=f"{param.describe()} (default: {_cli_default(defaults[key])})".replace("%", "%%"),
        )
    return parser


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list experiments and their parameters (type, range, default)")
    p_run = sub.add_parser("run", help="run one experiment and print its tables", add_help=False)
    p_run.add_argument("experiment", choices=sorted(REGISTRY))
    p_run.add_argument("-h", "--help", action="store_true", help="list the experiment's parameters")
    args, rest = parser.parse_known_args(argv)

    if args.cmd == "list":
        for name, fn in REGISTRY.items():
            print(f"{name:16s} {_summary(fn)}")
            defaults = params_of(fn)
            for k, param in spec_of(fn).items():
                print(f"    --{k.replace('_', '-')} {param.describe()} (default: {_cli_default(defaults[k])})")
        return 0

    opts = _experiment_parser(args.experiment).parse_args(rest + (["--help"] if args.help else []))
    params = {k: v for k, v in vars(opts).items() if k != "format"}
    args.format = opts.format
    defaults = params_of(REGISTRY[args.experiment])
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
