"""Studies that validate the instruments and the gate: the gate's A/A and injected-slowdown runs (gate) and the
steady measure's calibration and validation (steady). Each collects, analyses and renders its own page.

May import every other package; only the CLI and scripts import it.
"""
