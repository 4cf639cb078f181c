"""Experiments of the dropout page (being written)."""
