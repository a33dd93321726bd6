"""Where this mnist_ref lives: the folder holding the package (a checkout, with bench/ and results/ beside it)."""

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
