"""Experiments of the gradients page (being written)."""
