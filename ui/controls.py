"""URL-bound widgets and the shared page frame (sidebar, seed, help).

Every control is bound to the URL with ``bind="query-params"`` and a key, so a copied link
reproduces the view. Streamlit drops an invalid bound value (``?depth=-5``, ``?init=evil``) and
falls back to the default, so a hand-edited URL can never crash a page.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.source_util import page_icon_and_name

from classroom import lessons
from classroom.store import new_session_id
from serve import warm

#: Pages in the order of the sidebar (path, title); the home page first (from ``classroom.lessons``).
PAGES = [(p.path, p.title) for p in lessons.SITE]
#: The lesson path that "Next →" follows: Home, then every lesson (Teach is not one).
LESSON_PATH = [(p.path, p.title) for p in (lessons.HOME, *lessons.LESSONS)]


def page_names() -> list[str]:
    """URL pathname of each page in :data:`PAGES`, as Streamlit derives it ("" is the home page)."""
    return ["" if p == lessons.HOME_PATH else page_icon_and_name(Path(p))[1] for p, _ in PAGES]


def link_to(title: str, label: str | None = None, where=None) -> None:
    """A link to the page titled ``title`` (its short label unless ``label``), carrying the
    teaching-mode parameters (:func:`carried`)."""
    lesson = lessons.by_title(title)
    (where if where is not None else st).page_link(
        lesson.path, label=label or f"→ {lesson.label}", query_params=carried() or None
    )


SEED_HELP = "Same seed, same settings: same numbers. Change it to see run-to-run variation."
SEED_MAX = 999


#: URL parameter that starts every training section of a page when it opens (``?run=1``): for
#: a link a teacher shares, and for the warm-up (``ui.runner.on_demand``, ``serve.warm``).
RUN_PARAM = warm.RUN_PARAM

#: Teaching-mode URL parameters (DESIGN.md section 5): ``present=1`` is the projector view,
#: ``show`` lists the controls it keeps (their URL keys, comma-separated), ``room`` is a class's
#: code and ``student`` a student's anonymous token in it. Streamlit drops unbound query
#: parameters on a page change, so every link between pages carries them (:func:`carried`).
PRESENT_PARAM, SHOW_PARAM, ROOM_PARAM, STUDENT_PARAM = "present", "show", "room", "student"
CARRIED = (PRESENT_PARAM, SHOW_PARAM, ROOM_PARAM, STUDENT_PARAM)
#: Longest value of a carried parameter taken from a URL (anything longer is ignored).
CARRIED_MAX = 200


def carried() -> dict[str, str]:
    """The teaching-mode parameters of this page's URL, to put on every link to another page."""
    out = {}
    for k in CARRIED:
        v = st.query_params.get(k)
        if isinstance(v, str) and 0 < len(v) <= CARRIED_MAX:
            out[k] = v
    return out


def student_token() -> str | None:
    """In a class (``?room=``), this browser's anonymous token, put into the URL the first time so
    that a reload keeps the same vote; None outside a class."""
    if not st.query_params.get(ROOM_PARAM):
        return None
    token = st.query_params.get(STUDENT_PARAM)
    if not (isinstance(token, str) and 16 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum()):
        token = new_session_id()
        st.query_params[STUDENT_PARAM] = token
    return token


def presenting() -> bool:
    """True in the projector view (``?present=1``)."""
    return st.query_params.get(PRESENT_PARAM) == "1"


def shown_in_presenter() -> set[str]:
    """Keys of the controls that the projector view keeps (``?show=depth,seed``)."""
    raw = carried().get(SHOW_PARAM, "")
    return {k.strip() for k in raw.split(",") if k.strip()}


#: The projector view: no sidebar, no prose, no hidden controls, everything larger. Prose is
#: markdown, captions and notes in the main area, except inside the question (``st-key-quiz*``)
#: and the page's footer.
_PRESENTER_CSS = """<style>
[data-testid=stSidebar], [data-testid=stSidebarCollapsedControl], [data-testid=stExpandSidebarButton] { display: none; }
[data-testid=stMainBlockContainer] { max-width: 100%; }
[data-testid=stMain] :is(p, li, label, button) { font-size: 1.4rem !important; line-height: 1.45; }
[data-testid=stMain] [data-testid=stMetricValue] * { font-size: 2.8rem !important; }
[data-testid=stMain] [data-testid=stMarkdown], [data-testid=stMain] [data-testid=stCaptionContainer],
[data-testid=stMain] [data-testid=stAlert], [data-testid=stMain] [data-testid=stExpander] { display: none; }
[class*="st-key-quiz"] [data-testid=stMarkdown], [class*="st-key-quiz"] [data-testid=stAlert],
[class*="st-key-quiz"] [data-testid=stCaptionContainer],
.st-key-page_footer [data-testid=stMarkdown] { display: block; }
[class*="st-key-presenter_hidden_"] { display: none; }
</style>"""

#: Session keys of the page frame (not widgets): the page shown last, and this run's controls.
_PAGE_KEY, _CONTROLS_KEY, _NOTICE_KEY = "frame_page", "frame_controls", "frame_notice"
_CARRIED_KEY, _TOUCHED_KEY = "frame_from_another_page", "frame_touched"
#: Controls the user chose (moved on any page, or set in the URL of the first page opened): only
#: these follow to the next page; a value another page's control left untouched gives way to
#: this page's default (pages share keys such as ``depth`` with different defaults).
_CHOSEN_KEY, _ENTERING_KEY = "frame_chosen", "frame_entering"
#: Session key of the slot under the title where the page's question draws (:func:`question_slot`).
_QUESTION_KEY = "frame_question"

#: Makes every scrollable display formula keyboard-focusable (WCAG 2.1.1; axe's
#: ``scrollable-region-focusable``): a wide formula scrolls sideways on a phone, and a keyboard
#: user must be able to reach it. KaTeX draws formulas after the script runs, hence the observer.
_FOCUSABLE_FORMULAS = """<script>
(() => {
  const mark = () => document.querySelectorAll(".katex-display:not([tabindex])")
    .forEach((e) => { e.tabIndex = 0; });
  mark();
  if (!window.teFormulaObserver) {
    window.teFormulaObserver = new MutationObserver(mark);
    window.teFormulaObserver.observe(document.body, { childList: true, subtree: true });
  }
})();
</script>"""


def page_setup(title: str, intro: str, icon: str = "🧠") -> int:
    """Configure the page, draw the shared sidebar, the title, the slot of the page's question
    (:func:`question_slot`, filled by ``quiz.ask``) and the intro below it; return the seed.

    The question comes before the intro, so on a phone it is what the first screen shows.

    The sidebar carries its own navigation (Streamlit's is switched off in config.toml), so
    every page, even the first deep link on a fresh server, shows the same labelled frame.
    The seed is a slider: a bound ``number_input`` crashes inside Streamlit on ``?seed=inf``.
    """
    st.set_page_config(page_title=f"{title} · Training Explorer", page_icon=icon, layout="wide")
    student_token()  # before any link is drawn: links carry it
    previous = st.session_state.get(_PAGE_KEY)
    st.session_state[_PAGE_KEY] = title
    st.session_state[_CONTROLS_KEY] = {}  # key -> (default, value), filled by this run's controls
    if previous != title:  # entering this page; controls the user moves here are "touched"
        st.session_state[_CARRIED_KEY] = previous is not None
        st.session_state[_TOUCHED_KEY] = set()
        if previous is None:  # the first page opened: what its URL sets was chosen
            st.session_state.setdefault(_CHOSEN_KEY, set()).update(st.query_params.keys())
    st.session_state[_ENTERING_KEY] = previous is not None and previous != title
    warm.start_in_background(st.get_option("server.port"), st.get_option("server.baseUrlPath") or "")
    with st.sidebar:
        st.markdown("### Training Explorer")
        st.caption("Why deep nets are hard to train, and how the modern recipe fixes it.")
        with st.container(key="nav"):
            for path, label in PAGES:
                st.page_link(path, label=label, query_params=carried() or None)
        st.divider()
        seed = slider("Seed", "seed", 0, SEED_MAX, 0, help=SEED_HELP)
        with st.expander("How to use", expanded=False):
            st.markdown(
                "- Every control is stored in the page URL: copy the address bar to share this exact view.\n"
                "- Every number on screen is computed by the NumPy engine from your settings.\n"
                "- Sections that train networks wait for their **▶ Train** button; add `&run=1` to a "
                "shared link to train them as soon as it opens.\n"
                "- Each chart has a CSV download and a *Reproduce in Python* snippet below it."
            )
        st.html(_FOCUSABLE_FORMULAS, unsafe_allow_javascript=True)
    if presenting():
        st.html(_PRESENTER_CSS)
    st.title(title)
    # the question's slot comes before the intro: on a phone the question is what shows first
    st.session_state[_QUESTION_KEY] = st.container(key="question_slot")
    if not presenting():
        st.container(key="page_intro").markdown(intro)
    st.session_state[_NOTICE_KEY] = st.empty() if st.session_state[_CARRIED_KEY] else None
    return int(seed)


def question_slot():
    """The place under the title, above the intro, where this page's question draws."""
    slot = st.session_state.get(_QUESTION_KEY)
    return slot if slot is not None else st.container()


def _reset(defaults: dict) -> None:
    for key, value in defaults.items():
        st.session_state[key] = value
    st.session_state[_CARRIED_KEY] = False


def page_footer() -> None:
    """The end of every page: "Reset to defaults", "Next →" along the lesson path, and (at the
    top, when settings arrived from another page) a note saying which."""
    seen = dict(st.session_state.get(_CONTROLS_KEY, {}))
    defaults = {k: default for k, (default, _) in seen.items()}
    notice = st.session_state.get(_NOTICE_KEY)
    if notice is not None:
        touched = st.session_state.get(_TOUCHED_KEY, set())
        changed = {k: now for k, (default, now) in seen.items() if k not in touched and now != default}
        if changed:
            listed = ", ".join(f"{k} = {v}" for k, v in changed.items())
            notice.info(
                f"Settings carried over from the previous page: {listed}. **Reset to defaults** is at the bottom."
            )
    title = st.session_state.get(_PAGE_KEY)
    titles = [t for _, t in LESSON_PATH]
    with st.container(key="page_footer", horizontal=True, gap="medium", vertical_alignment="center"):
        st.button(
            "↺ Reset to defaults",
            key="reset_defaults",
            on_click=_reset,
            args=(defaults,),
            help="Every control on this page back to its default, the seed included.",
        )
        path, label = LESSON_PATH[(titles.index(title) + 1) % len(LESSON_PATH)] if title in titles else PAGES[0]
        st.page_link(path, label=f"Next → {label}", query_params=carried() or None)


def _seen(key, default, value):
    """Note a control's default and its value in this run (for :func:`page_footer`); return the value."""
    st.session_state.setdefault(_CONTROLS_KEY, {})[key] = (default, value)
    return value


def _touch(key) -> None:
    st.session_state.setdefault(_TOUCHED_KEY, set()).add(key)
    st.session_state.setdefault(_CHOSEN_KEY, set()).add(key)


def _forget_unchosen(key) -> None:
    """On the first run after coming from another page, drop ``key``'s value unless the user
    chose it (:data:`_CHOSEN_KEY`)."""
    if st.session_state.get(_ENTERING_KEY) and key not in st.session_state.get(_CHOSEN_KEY, set()):
        st.session_state.pop(key, None)


def _holder(key, container):
    """Where a control draws: its container, hidden in the projector view unless ``show`` names it.

    Hidden controls still run (inside a hidden container), so their URL values keep applying.
    """
    c = container or st
    if presenting() and key not in shown_in_presenter():
        return c.container(key=f"presenter_hidden_{key}")
    return c


def metric_row(n: int) -> list:
    """``n`` slots for a row of metrics, to fill in order: ``m = metric_row(3); m[0].metric(...)``.

    The slots are one horizontal container, so the row costs one block on the page where
    ``st.columns(n)`` costs ``n + 1`` (every element is a message to every student's browser).
    """
    row = st.container(horizontal=True, gap="medium")
    return [row] * max(1, n)


def _forget_if(key, invalid) -> None:
    """Drop ``key``'s carried-over value when ``invalid(value)``, so the widget starts at its default.

    Bound values persist across page switches (the URL keeps them), and several pages share keys
    such as ``depth`` with different ranges: ``depth=60`` from one page would otherwise make
    another page's ``depth`` slider (max 16) raise StreamlitValueAboveMaxError.
    """
    if key in st.session_state:
        try:
            bad = invalid(st.session_state[key])
        except (TypeError, ValueError):
            bad = True
        if bad:
            del st.session_state[key]


def _bound(draw: str, label, key, initial, container, **kw):
    """Draw the control ``draw`` (an ``st`` method name) bound to the URL under ``key``, in its
    holder (:func:`_holder`), noting its default ``initial`` and value (:func:`_seen`) and when
    the user moves it (:func:`_touch`)."""
    _forget_unchosen(key)
    widget = getattr(_holder(key, container), draw)
    now = widget(label, key=key, bind="query-params", on_change=_touch, args=(key,), **kw)
    return _seen(key, initial, now)


def slider(label, key, min_value, max_value, value, step=None, help=None, container=None, **kw):
    """A URL-bound slider."""
    _forget_if(key, lambda v: not all(min_value <= x <= max_value for x in (v if isinstance(v, tuple) else (v,))))
    return _bound(
        "slider", label, key, value, container,
        min_value=min_value, max_value=max_value, value=value, step=step, help=help, **kw,
    )  # fmt: skip


#: Most seeds a page's Seeds control offers (each one trains every variant once more).
PAGE_MAX_SEEDS = 5


def seeds_slider(per: str, value: int, container=None, help: str | None = None) -> int:
    """The Seeds control of a page's comparisons (URL key ``seeds``, 1 to :data:`PAGE_MAX_SEEDS`):
    ``per`` says what each seed trains, e.g. "Seeds per rate"."""
    default_help = (
        f"{per}: the sidebar seed and the next ones. With one seed there is no estimate of the run-to-run noise."
    )
    return slider("Seeds", "seeds", 1, PAGE_MAX_SEEDS, value, help=help or default_help, container=container)


def label_noise_slider(value: float, container=None) -> float:
    """The label-noise control (URL key ``label_noise``) the pages where memorisation is the lesson share."""
    return slider(
        "Label noise", "label_noise", 0.0, 0.5, value, step=0.05, container=container,
        help="Fraction of training labels replaced by a wrong class (seeded; validation and test labels stay "
        "clean). Noisy labels are what dropout and early stopping guard against.",
    )  # fmt: skip


def select_slider(label, key, options, value, help=None, container=None, format_func=str):
    """A URL-bound slider over discrete options (e.g. learning rates on a log grid)."""
    _forget_if(key, lambda v: v not in list(options))
    return _bound(
        "select_slider", label, key, value, container,
        options=list(options), value=value, help=help, format_func=format_func,
    )  # fmt: skip


def select(label, key, options, value, help=None, container=None, format_func=str):
    """A URL-bound selectbox."""
    options = list(options)
    _forget_if(key, lambda v: v not in options)
    return _bound(
        "selectbox", label, key, value, container,
        options=options, index=options.index(value), help=help, format_func=format_func,
    )  # fmt: skip


def multiselect(label, key, options, value, help=None, container=None, format_func=str):
    """A URL-bound multiselect."""
    _forget_if(key, lambda v: not set(v) <= set(options))
    return _bound(
        "multiselect", label, key, list(value), container,
        options=list(options), default=list(value), help=help, format_func=format_func,
    )  # fmt: skip


def toggle(label, key, value, help=None, container=None):
    """A URL-bound toggle."""
    return _bound("toggle", label, key, value, container, value=value, help=help)
