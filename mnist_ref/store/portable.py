"""Results files made portable in place: every absolute path of the machine that wrote them (in commands, logs,
executables, data sources; tox's own result JSON among them) rewritten by plumbing.checkout.portable.

    python -m mnist_ref.store.portable FILE-OR-FOLDER...
"""

from __future__ import annotations

import sys
from pathlib import Path

from mnist_ref.plumbing import atomic
from mnist_ref.plumbing.checkout import ABSOLUTE_PATH, portable

TEXT_SUFFIXES = (".json", ".md", ".txt", ".log", ".csv")


def text_files(arguments: list[Path]) -> list[Path]:
    """Files as given, folders as every text results file below them."""
    out: list[Path] = []
    for arg in map(Path, arguments):
        out += sorted(p for p in arg.rglob("*") if p.suffix in TEXT_SUFFIXES) if arg.is_dir() else [arg]
    return out


def absolute_paths(path: Path) -> list[str]:
    """The absolute paths a file still holds."""
    return ABSOLUTE_PATH.findall(path.read_text(encoding="utf-8", errors="replace"))


def make_portable(paths: list[Path]) -> list[Path]:
    """Rewrite the files that hold absolute paths (atomically, all or none); the files changed."""
    changed = {}
    for path in paths:
        text = path.read_text(encoding="utf-8")
        new = portable(text)
        if new != text:
            changed[path] = atomic.encode(new)
    return atomic.write_many(changed) if changed else []


def main(argv: list[str] | None = None) -> int:
    """Rewrite the files named (or below the folders named); print what changed."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m mnist_ref.store.portable FILE-OR-FOLDER...", file=sys.stderr)
        return 2
    for path in make_portable(text_files([Path(a) for a in args])):
        print(f"made portable: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
