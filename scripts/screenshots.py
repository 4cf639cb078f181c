"""Regenerate the README's screenshots (docs/screenshots) from a fresh local server.

    .venv/bin/python scripts/screenshots.py            # the README's lesson shots, 1280 x 900
    .venv/bin/python scripts/screenshots.py --phone    # also 390 px wide copies in /tmp, to look at

Each lesson page opens with ``?run=1`` (it trains at its defaults) and is captured once the
script has finished and the charts are drawn. Needs Debian's chromium and Playwright.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM_ARGS, streamlit_server  # noqa: E402

#: README image name -> the page's URL path and query.
SHOTS = {
    "Home": "/?run=1",
    "Vanishing_gradients": "/Vanishing_gradients?run=1",
    "Early_stopping": "/Early_stopping?run=1",
    "Full_recipe": "/Full_recipe?run=1",
    "Teach": "/Teach",
}
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"


def capture(page, url: str, path: Path) -> None:
    page.goto(url)
    page.wait_for_selector("h1", timeout=300_000)
    for _ in range(3):  # a run may rerun the script when it finishes
        page.wait_for_selector(IDLE, timeout=300_000)
        page.wait_for_timeout(2000)
    page.screenshot(path=str(path), full_page=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phone", action="store_true", help="also capture 390 px wide copies into /tmp/screens")
    ap.add_argument("--only", help="comma-separated image names")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    out = ROOT / "docs" / "screenshots"
    names = args.only.split(",") if args.only else list(SHOTS)
    phone_dir = Path("/tmp/screens")
    phone_dir.mkdir(exist_ok=True)
    with streamlit_server("screenshots.log") as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS, headless=True)
        for name in names:
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            capture(ctx.new_page(), base + SHOTS[name], out / f"{name}.png")
            ctx.close()
            if args.phone:
                ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
                capture(ctx.new_page(), base + SHOTS[name], phone_dir / f"{name}-390.png")
                ctx.close()
            print(name, "done")
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
