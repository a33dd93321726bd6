"""Rendering what the lower layers measured and decided: tables and their formats (tables), the bench, backends,
distributed, sweep, versions, oracle and comparison pages, plots, and the index of a results folder (pages).

May import every layer below it; nothing below imports it.
"""
