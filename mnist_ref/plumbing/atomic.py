"""Atomic file writes: a temporary file in the target's directory, then a rename; several files all or none."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
from pathlib import Path

from mnist_ref.plumbing import interrupts
from mnist_ref.plumbing.errors import OutputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    """The mode a new file gets from the umask (0644 under the usual 022); a replaced file keeps its own."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _cannot_write(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"cannot write {path}: {exc.strerror or exc}; choose another output path")


def _stage(path: Path, data: bytes) -> Path:
    """data in a temporary file beside path, with the mode path will have; OutputError naming path."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write {path}: a folder is in the way; move it or choose another output path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, _mode_for(path))
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _cannot_write(path, exc) from None
        raise
    return Path(tmp)


@contextlib.contextmanager
def _signals_held():
    """Ctrl-C and SIGTERM wait until the block ends (the renames of a group happen together)."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError):  # no pthread_sigmask, or not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def write_many(files: dict[Path, bytes]) -> list[Path]:
    """Write every file or none: all are staged as temporaries first; only when every one is staged are they
    renamed into place, with interrupts held for the renames. An error or interrupt before that leaves every
    target as it was."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            staged.append((_stage(path, data), Path(path)))
        interrupts.stage("write")
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    with _signals_held():
        for done, (tmp, path) in enumerate(staged):
            try:
                os.replace(tmp, path)
            except OSError as exc:
                for left, _ in staged[done:]:
                    left.unlink(missing_ok=True)
                raise _cannot_write(path, exc) from None
    return [path for _, path in staged]


def temporary_for(path: Path) -> Path:
    """A temporary name beside path for a writer that is not ours (pytest-benchmark's JSON): hidden, so that folder
    listings (store.files.expand) leave it out; publish() moves it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp")


def publish(temporary: Path, path: Path) -> Path:
    """Move a finished temporary onto path in one rename, interrupts held: readers see the old file or the new one."""
    try:
        with _signals_held():
            os.replace(temporary, path)
    except OSError as exc:
        raise _cannot_write(Path(path), exc) from None
    return Path(path)


def write_bytes(path: Path, data: bytes) -> Path:
    """Write data to path so that readers see the old file or the new one, never a part."""
    return write_many({Path(path): data})[0]


def encode(text: str) -> bytes:
    """UTF-8, with a file name that is not valid UTF-8 (a surrogate escape) written as a backslash escape."""
    return text.encode("utf-8", errors="backslashreplace")


def write_text(path: Path, text: str) -> Path:
    """write_bytes for UTF-8 text."""
    return write_bytes(path, encode(text))


def json_bytes(document: dict) -> bytes:
    """An indented, strict JSON document (a NaN or infinity is a ValueError, before anything is written)."""
    return encode(json.dumps(document, indent=2, allow_nan=False) + "\n")


def write_json(path: Path, document: dict) -> Path:
    """write_bytes for an indented, strict JSON document (serialised first, so a bad document writes nothing)."""
    return write_bytes(path, json_bytes(document))
