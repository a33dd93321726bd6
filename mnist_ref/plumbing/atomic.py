"""Atomic file writes: a temporary file in the target's directory, then a rename; several files all or none."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
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


def _backup(path: Path) -> Path | None:
    """A hidden copy of the file at path beside it (a hard link where the file system allows, else a copy), for a
    group's rollback; None where nothing is there to keep."""
    if not path.exists():
        return None
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent)
    os.close(fd)
    backup = Path(name)
    try:
        backup.unlink()
        os.link(path, backup)
    except OSError:
        shutil.copy2(path, backup)
    return backup


def _roll_back(replaced: list[tuple[Path, Path | None]]) -> None:
    """Put back what the group's renames replaced, newest first: the kept copy where there was a file, nothing
    where there was none."""
    for path, backup in reversed(replaced):
        with contextlib.suppress(OSError):
            if backup is None:
                path.unlink()
            else:
                os.replace(backup, path)


def write_many(files: dict[Path, bytes]) -> list[Path]:
    """Write every file or none: all are staged as temporaries and every existing target kept as a hidden copy first;
    only then are they renamed into place, with interrupts held for the renames. An error or interrupt while
    staging leaves every target as it was; a rename that fails puts back the targets renamed before it."""
    staged: list[tuple[Path, Path]] = []
    backups: dict[Path, Path | None] = {}
    try:
        for path, data in files.items():
            staged.append((_stage(path, data), Path(path)))
        for _, path in staged:
            try:
                backups[path] = _backup(path)
            except OSError as exc:
                raise _cannot_write(path, exc) from None
        interrupts.stage("write")
    except BaseException:
        _discard([tmp for tmp, _ in staged] + [b for b in backups.values() if b is not None])
        raise
    replaced: list[tuple[Path, Path | None]] = []
    with _signals_held():
        for done, (tmp, path) in enumerate(staged):
            try:
                _rename(tmp, path)
            except OSError as exc:
                _roll_back(replaced)
                _discard([left for left, _ in staged[done:]] + [b for b in backups.values() if b is not None])
                raise _cannot_write(path, exc) from None
            replaced.append((path, backups[path]))
    _discard([b for b in backups.values() if b is not None])
    return [path for _, path in staged]


def _rename(tmp: Path, path: Path) -> None:
    """One rename of a group (its own function, so that tests can make one fail)."""
    os.replace(tmp, path)


def _discard(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


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
