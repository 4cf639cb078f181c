"""The ``training-explorer`` command: runs the installed app with its classroom configuration.

``training-explorer [streamlit run options]``, for example
``training-explorer --server.port 8601 --server.address 127.0.0.1``, works from any directory:
it finds ``streamlit_app.py`` (in this source tree, or where ``pip install`` put the app's files,
``<prefix>/share/training-explorer``) and hands it to ``streamlit run``. Streamlit reads the
``.streamlit/config.toml`` next to that script after any in the working directory, so the
app's settings apply wherever the command starts. Options given on the command line and
``STREAMLIT_*`` environment variables override them.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

DIST = "training-explorer"
MAIN = "streamlit_app.py"
_DATA_DIR = "share/training-explorer"


def app_dir() -> Path:
    """The directory holding ``streamlit_app.py``, ``pages/`` and ``.streamlit/config.toml``."""
    source = Path(__file__).resolve().parent.parent
    if (source / MAIN).is_file() and (source / "pages").is_dir():
        return source  # a source checkout, or an editable install of one
    try:
        files = metadata.distribution(DIST).files or []
    except metadata.PackageNotFoundError:
        files = []
    for f in files:
        if f.as_posix().endswith(f"{_DATA_DIR}/{MAIN}"):
            return Path(f.locate()).resolve().parent
    raise FileNotFoundError(
        f"cannot find the app's {MAIN}: install the package with `pip install .` "
        "from the repository, or run `streamlit run streamlit_app.py` in it"
    )


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__.replace("``", "").strip())
        print("\nstreamlit run options: streamlit run --help")
        return 0
    try:
        root = app_dir()
    except FileNotFoundError as e:
        print(f"training-explorer: {e}", file=sys.stderr)
        return 1
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(root / MAIN), *args]
    try:
        cli.main(prog_name="streamlit")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0
