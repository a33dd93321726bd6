"""Speed across stacks (TensorFlow versions, Keras 2 and 3, backends, modes, batch sizes), interleaved, with intervals;
whether an instruction count agrees with the clock on each question; and where a step's time and work go.

    python -m mnist_ref.validation.stacks collect --cycles 5 --out-dir results/stacks          # every arm
    python -m mnist_ref.validation.stacks collect --cycles 20 --arms tf215 ... tfnightly --out-dir
    results/stacks-versions
    python -m mnist_ref.validation.stacks add results/stacks-versions --arms tf215 tf216 --cycles 20
    python -m mnist_ref.validation.stacks analyse results/stacks --out results/validity.md --versions
    results/stacks-versions
    mnist-ref versions results/tox --envs ... --study results/stacks-versions                   # tf-versions.md's speed

collect: every arm's timed-guard bench process (`--bench-measure steps`: book mode unless the arm says otherwise, batch
32, CPU, all cores, 300 steps a round of fit, evaluate and predict, 30 one-image predicts, the NumPy floor), one at a
time, cycle after cycle, the order rotated every cycle so that drift on the machine hits every arm alike; then one
counted process per counted arm (`--bench-measure instructions`, the fit), two at a time. An arm is a tox env's
interpreter (.tox/ENV, made by `tox -e ENV --notest`) or this interpreter with other bench options.
analyse: per arm and path, each process' median round over its steps; a ratio between two arms is gate.ratio.between():
the Hodges-Lehmann estimate on log process medians with its exact 95% interval. With --versions, validity.md's
questions between two TensorFlow envs are timed in that study (more processes a version).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from mnist_ref.analysis.stacks import VERSION_ENVS
from mnist_ref.gate import ab
from mnist_ref.plumbing.checkout import CHECKOUT
from mnist_ref.plumbing.errors import ConfigError
from mnist_ref.reporting import stacks
from mnist_ref.store import files
from mnist_ref.store.files import runs_by_arm
from mnist_ref.store.measures import Measure
from mnist_ref.validation import study

PROG = "mnist_ref.validation.stacks"
TIMED_ARGS = ab.bench_args(mode=None, select=None, measure=Measure.STEPS)
COUNTED_ARGS = ab.bench_args(mode=None, measure=Measure.INSTRUCTIONS)
LEGACY = ("env", "TF_USE_LEGACY_KERAS=1")  # what tox.ini's tfkeras221 sets


@dataclasses.dataclass(frozen=True)
class StackArm:
    """One stack: a tox env's interpreter (env) or this one, with bench options; counted or not."""

    name: str
    env: str | None = None
    options: tuple[str, ...] = ("--bench-modes", "book")
    counted: bool = False
    label: str = ""


ARMS = (
    StackArm("book", options=("--bench-modes", "book"), counted=True, label="TF 2.21, Keras 3, book, batch 32"),
    StackArm("tuned", options=("--bench-modes", "tuned"), counted=True, label="TF 2.21, Keras 3, tuned, batch 32"),
    StackArm(
        "jax",
        options=("--bench-modes", "book", "--bench-backend", "jax"),
        counted=True,
        label="JAX, Keras 3, book, batch 32",
    ),
    StackArm(
        "torch",
        options=("--bench-modes", "book", "--bench-backend", "torch"),
        counted=True,
        label="torch, Keras 3, book, batch 32",
    ),
    StackArm(
        "bs128",
        options=("--bench-modes", "book", "--bench-batch-sizes", "128"),
        counted=True,
        label="TF 2.21, Keras 3, book, batch 128",
    ),
    StackArm(
        "work0.125",
        options=("--bench-modes", "book", "--bench-inject-work", "0.125"),
        counted=True,
        label="TF 2.21, Keras 3, book, batch 32, 0.125 extra products a step",
    ),
    *(StackArm(env, env=env, counted=env in ("tf220", "tf221", "tfkeras221"), label=env) for env in VERSION_ENVS),
)


def arms_for(names: list[str] | None) -> list[StackArm]:
    """The named arms (all by default); ConfigError naming an unknown one."""
    known = {a.name: a for a in ARMS}
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise ConfigError(f"unknown arm {', '.join(unknown)}; the arms are {', '.join(known)}")
    return [known[n] for n in names] if names else list(ARMS)


def python_of(arm: StackArm, toxworkdir: Path) -> str:
    """The arm's interpreter: its tox env's, or this one; ConfigError naming the tox command that makes a missing
    env."""
    if arm.env is None:
        return sys.executable
    python = toxworkdir / arm.env / "bin" / "python"
    if not python.is_file():
        raise ConfigError(f"{python}: no such interpreter; make the env first with `tox -e {arm.env} --notest`")
    return str(python)


def bench_arms(arms: list[StackArm], *, counted: bool, toxworkdir: Path) -> list[ab.Arm]:
    base = COUNTED_ARGS if counted else TIMED_ARGS
    return [
        ab.Arm(
            a.name,
            python_of(a, toxworkdir),
            CHECKOUT,
            (*base, *a.options),
            prefix=LEGACY if a.env == "tfkeras221" else (),
        )
        for a in arms
    ]


def collect(out_dir: Path, *, cycles: int, names: list[str] | None, phases: list[str], toxworkdir: Path) -> None:
    """Every arm's timed processes, interleaved, then the counted ones, into out_dir (new or empty: runs of an earlier
    collection would be read as this one's), all under one session name of their own (study-<time>)."""
    ab.check_repeats(cycles, guard=0, option="--cycles")
    ab.check_out_dir(out_dir, default="a new folder per collection")
    arms = arms_for(names)
    timed = bench_arms(arms, counted=False, toxworkdir=toxworkdir)
    counted = bench_arms([a for a in arms if a.counted], counted=True, toxworkdir=toxworkdir)
    session = f"stacks-{files.stamp()}"
    if "timed" in phases:
        ab.run_interleaved(timed, repeats=cycles, out_dir=out_dir / "timed", session=session, rotate=True, together=1)
    if "counted" in phases and counted:
        ab.run_interleaved(
            counted, repeats=1, out_dir=out_dir / "counted", session=session, alternate=False, together=2
        )


def add(folder: Path, *, cycles: int, names: list[str], toxworkdir: Path) -> None:
    """More cycles of some arms of a collected study, into its folder under its session, numbered on from its last
    cycle (Pinpoint's way: processes added where an interval is still too wide); those arms interleave with each other
    only, so a ratio between one of them and another arm pairs on the cycles both ran."""
    ab.check_repeats(cycles, guard=0, option="--cycles")
    timed = folder / "timed"
    found = runs_by_arm(timed) if timed.is_dir() else {}
    missing = [n for n in names if n not in found]
    if not found or missing:
        raise ConfigError(
            f"{folder}: no timed runs of {', '.join(missing or names)}; add cycles to arms the study collected "
            f"({', '.join(found) or 'none'})"
        )
    sessions = {str(f.session.ab_session) for files in found.values() for f in files}
    if len(sessions) != 1:
        raise ConfigError(f"{folder}: its runs come from {len(sessions)} collections; add cycles to one study's folder")
    last = max(int(f.path.stem.split("-")[1]) for files in found.values() for f in files)
    arms = bench_arms(arms_for(names), counted=False, toxworkdir=toxworkdir)
    ab.run_interleaved(
        arms, repeats=cycles, first=last + 1, out_dir=timed, session=sessions.pop(), rotate=True, together=1
    )


def _options(sub) -> dict:
    sub.choices["collect"].add_argument("--arms", nargs="+", default=None, help="the arms to run (default: all)")
    sub.choices["collect"].add_argument(
        "--phases", nargs="+", choices=("timed", "counted"), default=["timed", "counted"]
    )
    sub.choices["collect"].add_argument("--toxworkdir", type=Path, default=CHECKOUT / ".tox")
    sub.choices["analyse"].add_argument(
        "--versions",
        type=Path,
        default=None,
        help="a versions study's folder: validity's questions between TensorFlow envs timed there",
    )
    more = sub.add_parser("add", help="more cycles of some arms, into a collected study's folder")
    more.add_argument("folder", type=Path)
    more.add_argument("--arms", nargs="+", required=True)
    more.add_argument("--cycles", type=int, required=True)
    more.add_argument("--toxworkdir", type=Path, default=CHECKOUT / ".tox")

    def add_command(args) -> None:
        add(args.folder, cycles=args.cycles, names=args.arms, toxworkdir=args.toxworkdir)

    return {"add": add_command}


def main(argv: list[str] | None = None) -> int:
    return study.main(
        PROG,
        "stacks study",
        argv,
        cycles=5,
        collect=lambda args: collect(
            args.out_dir, cycles=args.cycles, names=args.arms, phases=args.phases, toxworkdir=args.toxworkdir
        ),
        pages=lambda args, command: stacks.pages(args.folder, args.out, command=command, versions=args.versions),
        options=_options,
    )


if __name__ == "__main__":
    sys.exit(main())
