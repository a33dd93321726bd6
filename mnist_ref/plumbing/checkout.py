"""Where this mnist_ref lives (the folder holding the package: a checkout, with bench/ and results/ beside it), and
paths made portable against it: what a results file records names paths relative to the checkout, never the
absolute folders of the machine that wrote it."""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
# An absolute path of two or more components, not inside a URL or a relative path (no word, '.', '/', '~' or '-'
# before its first slash).
ABSOLUTE_PATH = re.compile(r"(?<![\w./~-])/[\w.+-]+(?:/[\w.+@=-]*)+")


def portable_path(path: str | os.PathLike) -> str:
    """path relative to the checkout ('results/a.json', '../shared/data/mnist'), whatever the current folder; a
    relative path as it is. Two different absolute paths never become one (the checkout is the one base; only
    '.' and '..' segments are resolved), so path-keyed data keeps its keys apart."""
    text = os.fspath(path)
    if not text.startswith("/"):
        return text
    return posixpath.relpath(text, CHECKOUT.as_posix())


def portable(text: str) -> str:
    """text with every absolute path in it made portable (portable_path): commands, messages, logs."""
    return ABSOLUTE_PATH.sub(lambda m: portable_path(m.group(0)), text)
