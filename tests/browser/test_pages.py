"""Every page in a real Chromium, opened first by deep link on a fresh server.

A deep link as the first request of a fresh server is where Streamlit's page handling has failed
before (the entrypoint skipped, the shared frame lost), and it is how teachers share pages.
"""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from classroom.lessons import LESSONS
from tests.browser.conftest import SHOTS
from ui.controls import PAGES, page_names

pytestmark = pytest.mark.browser

# URL path of each page ("" is the home page) with its title.
PATHS = list(zip(page_names(), (title for _, title in PAGES)))
# Deep links first (the home page last), so the first request of the fresh server is a subpage.
ORDER = PATHS[1:] + PATHS[:1]
LOAD_TIMEOUT_MS = 180_000
#: WCAG 2.0/2.1 level A and AA rules of axe-core; a serious or critical violation fails the page.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical WCAG 2 A/AA violations on ``page``, one line each."""
    found = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}}).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes'][:3]]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def wait_idle(page) -> None:
    """Wait until the script has run to completion."""
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_selector("h1", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_timeout(1500)  # let vega finish drawing
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=LOAD_TIMEOUT_MS)


@pytest.mark.parametrize("path,title", ORDER, ids=[p or "home" for p, _ in ORDER])
def test_deep_link(server, page, path, title):
    # a plain link: the page renders, its training sections wait for their Train button
    page.goto(f"{server}/{path}")
    wait_idle(page)
    exceptions = page.locator("[data-testid=stException]")
    assert exceptions.count() == 0, exceptions.first.inner_text()
    if path not in ("Vanishing_gradients", "Teach"):  # nothing there to train at initialisation
        expect(page.get_by_role("button", name="▶ Train").first).to_be_attached(timeout=30_000)
    # a link with run=1 trains on open (in the server's worker processes)
    page.goto(f"{server}/{path}?run=1")
    wait_idle(page)
    name = path or "Home"
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert exceptions.count() == 0, exceptions.first.inner_text()
    # the shared frame: our sidebar is there and the navigation lists every page
    expect(page.locator("[data-testid=stSidebar]")).to_contain_text("Training Explorer", timeout=30_000)
    nav_links = page.locator("[data-testid=stSidebar] .st-key-nav a")
    expect(nav_links).to_have_count(len(PAGES), timeout=30_000)
    # at least one chart actually drawn (the Teach page has a plan, no chart, until a class runs)
    drawn = page.locator("[data-testid=stVegaLiteChart] canvas, [data-testid=stVegaLiteChart] svg")
    if path != "Teach":
        drawn.first.wait_for(timeout=30_000)
        assert drawn.count() >= 1
    # every drawn chart (tabs draw theirs when opened) has a text description as its accessible
    # label, and axe-core finds no serious WCAG 2 A/AA violation
    labels = page.locator("[data-testid=stVegaLiteChart]:has(svg, canvas)").evaluate_all(
        "els => els.map(e => e.getAttribute('aria-label'))"
    )
    assert all(labels) and (labels or path == "Teach"), labels
    assert serious_violations(page) == []
    heading = "Training Explorer" if not path else title.split()[0]
    assert heading.lower() in page.locator("h1").first.inner_text().lower()


def test_seed_is_bound_to_url(server, page):
    page.goto(f"{server}/Dropout?seed=3")
    wait_idle(page)
    seed = page.locator("[data-testid=stSidebar] .st-key-seed input[type=range]")
    assert seed.input_value() == "3"
    page.goto(f"{server}/Dropout?seed=-5")
    wait_idle(page)
    assert seed.input_value() == "0"
    assert "seed=" not in page.url


def test_switching_pages_with_a_shared_key_out_of_range(server, page):
    """depth=60 is valid on one page and above another page's max: the sidebar link must not crash.

    Bound values follow the user across page switches; ui.controls drops a carried value that
    the next page's control can't take (Streamlit itself raises StreamlitValueAboveMaxError).
    """
    page.goto(f"{server}/Vanishing_gradients?depth=60")
    wait_idle(page)
    for label in ("Batch normalization", "Dropout", "Full recipe"):
        page.locator(".st-key-nav a", has_text=label).click()
        page.wait_for_timeout(1000)
        wait_idle(page)
        exceptions = page.locator("[data-testid=stException]")
        assert exceptions.count() == 0, f"{label}: {exceptions.first.inner_text()}"
        expect(page.locator("h1").first).to_contain_text(label, ignore_case=True, timeout=30_000)


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.url for lesson in LESSONS])
def test_on_a_phone_the_question_comes_before_the_intro(server, browser, lesson):
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    phone = ctx.new_page()
    try:
        phone.goto(f"{server}/{lesson.url}")
        wait_idle(phone)
        question = phone.locator(f".st-key-quiz_{lesson.question}")
        intro = phone.locator(".st-key-page_intro")
        expect(question).to_be_visible(timeout=30_000)
        q_box, i_box = question.bounding_box(), intro.bounding_box()
        assert q_box is not None and i_box is not None
        assert q_box["y"] + q_box["height"] <= i_box["y"], (q_box, i_box)
        assert q_box["y"] < 844  # the question starts on the first screen
        phone.screenshot(path=str(SHOTS / f"phone-{lesson.url}.png"))
    finally:
        ctx.close()
