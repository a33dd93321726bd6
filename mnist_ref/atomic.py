"""Atomic file writes: a temporary file in the target's directory, then a rename."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from mnist_ref import interrupts


def write_bytes(path: Path, data: bytes) -> Path:
    """Write data to path so that readers see the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        interrupts.stage("write")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    """write_bytes for UTF-8 text."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, document: dict) -> Path:
    """write_bytes for an indented, strict JSON document (serialised first, so a bad document, a NaN
    included, writes nothing)."""
    return write_text(path, json.dumps(document, indent=2, allow_nan=False) + "\n")
