"""Experiments of the schedules page (being written)."""
