"""Results files made portable in place: every absolute path of the machine that wrote them (in commands, logs,
executables, data sources; tox's own result JSON among them) rewritten relative to the checkout by
plumbing.checkout.portable. All files or none: every file is read and rewritten in memory first, a JSON file whose
rewrite would merge two keys or two list entries into one is refused, and only then is anything written.

    python -m mnist_ref.store.portable FILE-OR-FOLDER...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mnist_ref.plumbing import atomic
from mnist_ref.plumbing.checkout import ABSOLUTE_PATH, FILE_URL, portable
from mnist_ref.plumbing.errors import MnistRefError, ReportError

TEXT_SUFFIXES = (".json", ".md", ".txt", ".log", ".csv")
USAGE = "usage: python -m mnist_ref.store.portable FILE-OR-FOLDER..."


def text_files(arguments: list[Path]) -> list[Path]:
    """Files as given, folders as every text results file below them (hidden temporaries left out); ReportError for a
    path that does not exist."""
    out: list[Path] = []
    for arg in map(Path, arguments):
        if arg.is_dir():
            out += sorted(
                p for p in arg.rglob("*") if p.suffix in TEXT_SUFFIXES and p.is_file() and not p.name.startswith(".")
            )
        elif arg.is_file():
            out.append(arg)
        else:
            raise ReportError(f"{arg}: no such file or folder")
    return out


def read(path: Path) -> str:
    """A text results file, or ReportError saying why it cannot be read (not UTF-8, not readable)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ReportError(f"{path}: not UTF-8 text (byte {exc.start}); nothing was rewritten") from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot read it ({exc.strerror or exc}); nothing was rewritten") from None


def machine_paths(path: Path) -> list[str]:
    """The paths of this machine a file still holds: absolute paths portable() would rewrite (the checkout's folder,
    the home folder), file URLs among them."""
    text = path.read_text(encoding="utf-8", errors="replace")
    found = ABSOLUTE_PATH.findall(text) + [m.group(0) for m in FILE_URL.finditer(text)]
    return [p for p in found if portable(p) != p]


def merged(before, after) -> str | None:
    """Where a rewritten JSON document lost a distinction the original had (two keys of an object, or two entries
    of a list, that became one), as a JSON pointer; None when every distinction is kept."""
    if isinstance(before, dict) and isinstance(after, dict):
        if len(after) != len(before):
            return "/"
        pairs = zip(before.items(), after.items(), strict=True)
        return next((f"/{k}{where}" for (k, v), (_, w) in pairs if (where := merged(v, w)) is not None), None)
    if isinstance(before, list) and isinstance(after, list):
        if len({json.dumps(v, sort_keys=True) for v in after}) != len({json.dumps(v, sort_keys=True) for v in before}):
            return "/"
        return next(
            (
                f"/{i}{where}"
                for i, (v, w) in enumerate(zip(before, after, strict=True))
                if (where := merged(v, w)) is not None
            ),
            None,
        )
    return None


# What of tox's result JSON (`tox --result-json`) is kept: per env, its Python, packages and each step's exit code and
# duration. The commands' output (pip's log, with the package index's URLs and the machine's folders) and the host go.
TOX_STEP_FIELDS = ("retcode", "elapsed")


def is_tox_result(document) -> bool:
    return isinstance(document, dict) and "reportversion" in document and isinstance(document.get("testenvs"), dict)


def trim_tox_result(document: dict) -> dict:
    """tox's result JSON without the commands' output and the host name (TOX_STEP_FIELDS kept of every step)."""

    def env(data: dict) -> dict:
        steps = {
            k: [{f: s.get(f) for f in TOX_STEP_FIELDS} for s in data.get(k) or [] if isinstance(s, dict)]
            for k in ("setup", "test")
        }
        return {k: v for k, v in data.items() if k not in ("setup", "test")} | steps

    return {
        "reportversion": document["reportversion"],
        "toxversion": document.get("toxversion"),
        "testenvs": {
            name: env(data) if isinstance(data, dict) else data for name, data in document["testenvs"].items()
        },
    }


def rewrite(path: Path, text: str) -> str:
    """text with its absolute paths made portable (tox's result JSON trimmed first); ReportError when a JSON file would
    lose a distinction."""
    if path.suffix == ".json":
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if is_tox_result(document):
            text = json.dumps(trim_tox_result(document), indent=2) + "\n"
    new = portable(text)
    if new == text or path.suffix != ".json":
        return new
    try:
        before, after = json.loads(text), json.loads(new)
    except ValueError:
        return new  # not JSON after all: a text file like any other
    where = merged(before, after)
    if where is not None:
        raise ReportError(
            f"{path}: making its paths relative would merge two distinct entries at {where}; nothing was "
            "rewritten: rename the clashing entries first"
        )
    return new


def make_portable(paths: list[Path]) -> list[Path]:
    """Rewrite the files that hold absolute paths, all or none (atomic.write_many); the files changed."""
    changed = {}
    for path in paths:
        text = read(path)
        new = rewrite(path, text)
        if new != text:
            changed[path] = atomic.encode(new)
    return atomic.write_many(changed) if changed else []


def main(argv: list[str] | None = None) -> int:
    """Rewrite the files named (or below the folders named); print what changed, or one line saying why nothing was."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        changed = make_portable(text_files([Path(a) for a in args]))
    except MnistRefError as exc:
        print(f"mnist_ref.store.portable: error: {exc}", file=sys.stderr)
        return exc.exit_code
    for path in changed:
        print(f"made portable: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
