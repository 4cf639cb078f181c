"""Experiments of the early_stopping page (being written)."""
