"""URL-bound widgets and the shared page frame (sidebar, seed, help).

Every control is bound to the URL with ``bind="query-params"`` and a key, so a copied link
reproduces the view. Streamlit drops an invalid bound value (``?depth=-5``, ``?init=evil``) and
falls back to the default, so a hand-edited URL can never crash a page.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.source_util import page_icon_and_name

from serve import warm

#: Pages in the order of the sidebar (path, title); the home page first.
PAGES = [
    ("streamlit_app.py", "Home"),
    ("pages/1_Vanishing_gradients.py", "Vanishing & exploding gradients"),
    ("pages/2_Initialization.py", "Initialization"),
    ("pages/3_Batch_normalization.py", "Batch normalization"),
    ("pages/4_Dropout.py", "Dropout"),
    ("pages/5_LR_schedules.py", "Learning-rate schedules"),
    ("pages/6_Early_stopping.py", "Early stopping"),
    ("pages/7_Full_recipe.py", "Full recipe"),
]


def page_names() -> list[str]:
    """URL pathname of each page in :data:`PAGES`, as Streamlit derives it ("" is the home page)."""
    return ["" if p == "streamlit_app.py" else page_icon_and_name(Path(p))[1] for p, _ in PAGES]


SEED_HELP = "Same seed, same settings: same numbers. Change it to see run-to-run variation."
SEED_MAX = 999


#: URL parameter that starts every training section of a page when it opens (``?run=1``): for
#: a link a teacher shares, and for the warm-up (``ui.runner.on_demand``, ``serve.warm``).
RUN_PARAM = warm.RUN_PARAM


def page_setup(title: str, intro: str, icon: str = "🧠") -> int:
    """Configure the page, draw the shared sidebar and the title; return the seed.

    The sidebar carries its own navigation (Streamlit's is switched off in config.toml), so
    every page, even the first deep link on a fresh server, shows the same labelled frame.
    The seed is a slider: a bound ``number_input`` crashes inside Streamlit on ``?seed=inf``.
    """
    st.set_page_config(page_title=f"{title} · Training Explorer", page_icon=icon, layout="wide")
    warm.start_in_background(st.get_option("server.port"), st.get_option("server.baseUrlPath") or "")
    with st.sidebar:
        st.markdown("### Training Explorer")
        st.caption("Why deep nets are hard to train, and how the modern recipe fixes it.")
        with st.container(key="nav"):
            for path, label in PAGES:
                st.page_link(path, label=label)
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
    st.title(title)
    st.markdown(intro)
    return int(seed)


def metric_row(n: int, where=None) -> list:
    """``n`` slots for a row of metrics, to fill in order: ``m = metric_row(3); m[0].metric(...)``.

    The slots are one horizontal container, so the row costs one block on the page where
    ``st.columns(n)`` costs ``n + 1`` (every element is a message to every student's browser).
    """
    row = (where if where is not None else st).container(horizontal=True, gap="medium")
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


def slider(label, key, min_value, max_value, value, step=None, help=None, container=None, **kw):
    """A URL-bound slider."""
    c = container or st
    _forget_if(key, lambda v: not all(min_value <= x <= max_value for x in (v if isinstance(v, tuple) else (v,))))
    return c.slider(label, min_value, max_value, value, step=step, key=key, help=help, bind="query-params", **kw)


def select_slider(label, key, options, value, help=None, container=None, format_func=str):
    """A URL-bound slider over discrete options (e.g. learning rates on a log grid)."""
    c = container or st
    _forget_if(key, lambda v: v not in list(options))
    return c.select_slider(
        label, options=list(options), value=value, key=key, help=help, bind="query-params", format_func=format_func
    )


def select(label, key, options, value, help=None, container=None, format_func=str):
    """A URL-bound selectbox."""
    c = container or st
    options = list(options)
    _forget_if(key, lambda v: v not in options)
    return c.selectbox(
        label, options, index=options.index(value), key=key, help=help, bind="query-params", format_func=format_func
    )


def multiselect(label, key, options, value, help=None, container=None, format_func=str):
    """A URL-bound multiselect."""
    c = container or st
    _forget_if(key, lambda v: not set(v) <= set(options))
    return c.multiselect(
        label, list(options), default=list(value), key=key, help=help, bind="query-params", format_func=format_func
    )


def toggle(label, key, value, help=None, container=None):
    """A URL-bound toggle."""
    c = container or st
    return c.toggle(label, value=value, key=key, help=help, bind="query-params")
