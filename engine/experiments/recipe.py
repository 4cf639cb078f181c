"""Experiments of the recipe page (being written)."""
