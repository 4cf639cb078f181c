"""Experiments of the batchnorm page (being written)."""
