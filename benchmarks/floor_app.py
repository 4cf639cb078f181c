"""A page as big as the app's default views, computing nothing: Streamlit's own floor.

Twelve bordered sections, each a two-column row (a markdown line, a metric) and an expander
(markdown, code): about 110 messages per rerun, as many as an average default view of the app
(60-130). ``benchmarks/load.py --app benchmarks/floor_app.py --mode stress`` then shows what
Streamlit alone costs per rerun for a page of that size, against ``trivial_app.py`` (one slider,
one line): the part of the app's cost no change to its own code can remove.
"""

import streamlit as st

value = st.slider("value", 0, 100, 50, key="value", bind="query-params")
for i in range(12):
    with st.container(border=True):
        left, right = st.columns(2)
        left.markdown(f"**Section {i}**: value {value}")
        right.metric("metric", i)
        with st.expander("more"):
            st.markdown("Some explanation. " * 20)
            st.code("print(1)")
