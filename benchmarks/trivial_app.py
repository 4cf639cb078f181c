"""Trivial one-widget Streamlit page: the load test's baseline.

benchmarks/load.py --baseline runs this page the same way as the app, so the app's
capacity can be reported as a percentage of what Streamlit itself can serve here.
"""

import streamlit as st

value = st.slider("value", 0, 100, 50, key="value", bind="query-params")
st.write(f"value = {value}")
