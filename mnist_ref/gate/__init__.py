"""The regression gate: the verdict rules of a comparison (compare), same-machine A/B runs (ab) and the
committed baseline (baseline).

Decides, never renders: reporting turns its results into pages. May import every layer below it (reference,
scale, store, measure, core, plumbing).
"""
