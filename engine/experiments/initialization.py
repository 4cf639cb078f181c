"""Experiments of the initialization page (being written)."""
