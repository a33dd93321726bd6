"""Where this mnist_ref lives (the folder holding the package: a checkout, with bench/ and results/ beside it), and
paths made portable against it: what a results file records must not carry the absolute folders of the machine
that wrote it."""

from __future__ import annotations

import os
import re
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
# An absolute path of two or more components, not inside a URL or a relative path (no word, '.', '/', '~' or '-'
# before its first slash).
ABSOLUTE_PATH = re.compile(r"(?<![\w./~-])/[\w.+-]+(?:/[\w.+@=-]*)+")
ELIDED = "..."


def portable_path(path: str | os.PathLike) -> str:
    """path relative to the checkout or the current folder when inside one, else with the machine's prefix left
    out ('.../site-packages/...' for an installed file, '.../NAME' otherwise); a relative path as it is."""
    text = os.fspath(path)
    if not text.startswith("/"):
        return text
    resolved = Path(text)
    for root in (CHECKOUT, Path.cwd()):
        try:
            relative = resolved.relative_to(root)
        except ValueError:
            continue
        return str(relative) if str(relative) != "." else "."
    parts = resolved.parts
    if "site-packages" in parts:
        return "/".join((ELIDED, *parts[parts.index("site-packages"):]))
    return f"{ELIDED}/{resolved.name}" if resolved.name else ELIDED


def portable(text: str) -> str:
    """text with every absolute path in it made portable (portable_path): commands, messages, logs."""
    return ABSOLUTE_PATH.sub(lambda m: portable_path(m.group(0)), text)
