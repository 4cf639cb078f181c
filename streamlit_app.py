"""Training Explorer: home page (being written)."""

import streamlit as st

from ui import controls

controls.page_setup("Training Explorer", "Why deep networks are hard to train, and how the modern recipe fixes it.")
for path, title in controls.PAGES[1:]:
    st.page_link(path, label=title)
