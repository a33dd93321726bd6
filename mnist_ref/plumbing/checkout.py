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
# A file URL (file:///work/x): its path is this machine's like any other.
FILE_URL = re.compile(r"file://(/[\w.+-]+(?:/[\w.+@=-]*)*)")


def _workspace() -> str:
    """The folder the checkout sits in (its siblings, such as ../shared, are reached relative to it)."""
    return (CHECKOUT if CHECKOUT.parent == Path(CHECKOUT.anchor) else CHECKOUT.parent).as_posix()


def _inside(text: str, folder: str) -> bool:
    return folder not in ("", "/") and (text == folder or text.startswith(folder.rstrip("/") + "/"))


def portable_path(path: str | os.PathLike) -> str:
    """path relative to the checkout ('results/a.json', '../shared/data/mnist') where it lies in the checkout's folder,
    under the home folder as '~/...', else as it is (/proc/stat, /tmp/x: the same on every machine); a relative path as
    it is. Two different absolute paths never become one (one base each; only '.' and '..' segments are resolved), so
    path-keyed data keeps its keys apart."""
    text = os.fspath(path)
    if not text.startswith("/"):
        return text
    if _inside(text, _workspace()):
        return posixpath.relpath(text, CHECKOUT.as_posix())
    home = os.path.expanduser("~")
    if _inside(text, home):
        return "~" + text[len(home.rstrip("/")) :]
    return text


def portable(text: str) -> str:
    """text with every absolute path in it made portable (portable_path): commands, messages, logs; a file URL of the
    checkout's folder or the home folder becomes its portable path."""
    text = FILE_URL.sub(
        lambda m: portable_path(m.group(1)) if portable_path(m.group(1)) != m.group(1) else m.group(0), text
    )
    return ABSOLUTE_PATH.sub(lambda m: portable_path(m.group(0)), text)
