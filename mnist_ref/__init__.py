"""mnist-ref: the classic Keras MNIST model as a reproducible, measurable reference.

The package's layers, lowest first. A module may import its own package and any package of a lower layer,
never one above it nor a sibling in its own layer (tests/test_layout.py checks every import; README "Layout"
describes each). `cli` and `__main__` sit above them all.
"""

__version__ = "0.1.0"

LAYERS = (
    ("plumbing",),
    ("core",),
    ("store",),
    ("measure",),
    ("scale",),
    ("reference",),
    ("gate",),
    ("analysis",),
    ("reporting",),
    ("validation",),
)
