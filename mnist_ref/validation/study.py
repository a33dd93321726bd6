"""What the validation studies share: their command line (collect the runs, analyse them into pages written with the
results folder's index, all or none), reading a pool back by arm, and counting verdicts."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from mnist_ref.plumbing import atomic, interrupts
from mnist_ref.plumbing.checkout import portable
from mnist_ref.plumbing.errors import MnistRefError
from mnist_ref.reporting import index
from mnist_ref.store.files import BenchFile, runs_by_arm


def parser(prog: str, *, cycles: int) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """`python -m PROG collect --cycles N --out-dir DIR | analyse FOLDER --out PAGE`; more subcommands can be added."""
    top = argparse.ArgumentParser(prog=f"python -m {prog}")
    sub = top.add_subparsers(dest="command", required=True)
    collect = sub.add_parser("collect")
    collect.add_argument("--cycles", type=int, default=cycles)
    collect.add_argument("--out-dir", type=Path, required=True)
    analyse = sub.add_parser("analyse")
    analyse.add_argument("folder", type=Path)
    analyse.add_argument("--out", type=Path, required=True)
    return top, sub


def runs(folder: Path) -> dict[str, list[BenchFile]]:
    """arm name -> its bench files in cycle order."""
    if not folder.is_dir():
        raise MnistRefError(f"{folder}: no such folder; collect the runs first (the collect command)")
    return runs_by_arm(folder)


@dataclasses.dataclass(frozen=True)
class Tally:
    """How many of one question's comparisons gave the verdict expected: what a headline and a count row say."""

    name: str  # the arm or question as the headline names it ("A/A", "steps0.03")
    hits: int
    total: int
    expect: str  # the verdict expected, in words ("no change", "slower")

    @classmethod
    def of(cls, name: str, verdicts: list, expect: str) -> Tally:
        return cls(name, sum(v == expect for v in verdicts), len(verdicts), expect)

    @property
    def fraction(self) -> str:
        return f"{self.hits}/{self.total}"


def verdict_summary(tallies: list[Tally]) -> str:
    """'A/A 22/22 no change, steps0.03 23/23 slower, ...'."""
    return ", ".join(f"{t.name} {t.fraction} {t.expect}" for t in tallies)


Pages = Callable[[argparse.Namespace, str], dict[Path, bytes]]  # (parsed analyse args, command) -> path -> bytes


def one_page(render: Callable[..., str]) -> Pages:
    """The pages of a study with one page: render(folder, command=...) at --out, with the index of its folder."""

    def pages(args: argparse.Namespace, command: str) -> dict[Path, bytes]:
        index.with_index([(args.out, b"")])  # a name it may not have is refused before the study is read
        return index.with_index([(args.out, atomic.encode(render(args.folder, command=command)))])

    return pages


def main(
    prog: str,
    name: str,
    argv: list[str] | None,
    *,
    cycles: int,
    collect: Callable[[argparse.Namespace], None],
    pages: Pages,
    options: Callable[[argparse._SubParsersAction], dict[str, Callable[[argparse.Namespace], None]]] | None = None,
) -> int:
    """A study's command line: `collect` runs collect(args), `analyse` writes pages(args, command) all or none, and
    options(subparsers) may add arguments and return more commands (name -> handler). One line for bad input or an
    interrupt (interrupts.script_main)."""
    top, sub = parser(prog, cycles=cycles)
    handlers = options(sub) if options else {}
    args = top.parse_args(argv)

    def analyse() -> None:
        command = portable(f"python -m {prog} " + shlex.join(sys.argv[1:] if argv is None else argv))
        written = pages(args, command)
        atomic.write_many(written)
        for path in written:
            print(f"wrote {path}")

    def body() -> None:
        if args.command == "collect":
            collect(args)
        elif args.command == "analyse":
            analyse()
        else:
            handlers[args.command](args)

    return interrupts.script_main(name, body)
