"""Streamlit-aware helpers shared by the pages: URL-bound controls, Altair charts, cached runs."""
