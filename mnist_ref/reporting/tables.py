"""Formatting for every table: one place for units, one table writer (tabulate, GitHub pipe tables)."""

from __future__ import annotations

from tabulate import tabulate

_FORMATS = {
    "rate": lambda v: f"{v:,.0f}",
    "ms": lambda v: f"{v * 1e3:,.1f}",
    "s": lambda v: f"{v:,.2f}",
    "pct": lambda v: f"{v:.1f}%" if v >= 0.1 else f"{v:.3f}%",
    "acc": lambda v: f"{v:.4f}",
    "x": lambda v: f"{v:.2f}x",
    "band": lambda v: f"[{v[0]:.3f}, {v[1]:.3f}]",
    "verdict": lambda v: "yes" if v else "**no**",
}


def fmt(value, kind: str) -> str:
    """A value formatted for reading: rate (per s), ms, s, pct, acc, x, band ([low, high]),
    verdict (yes / **no**); '' for None."""
    return "" if value is None else _FORMATS[kind](value)


def table(rows: list[list], headers: list[str], *, label_columns: int, tablefmt: str = "pipe") -> str:
    """A table (GitHub pipe by default): the first label_columns left-aligned, the numbers right-aligned. A row with
    more or fewer cells than headers is a ValueError: tabulate would shift every cell under the wrong header."""
    widths = {len(row) for row in rows} - {len(headers)}
    if widths:
        raise ValueError(f"rows of {sorted(widths)} cells under {len(headers)} headers: {headers}")
    align = ["left"] * label_columns + ["right"] * (len(headers) - label_columns)
    return tabulate(rows, headers=headers, tablefmt=tablefmt, colalign=align, disable_numparse=True)


def accuracy_cell(accuracy: float | None, *, diverged: bool = False) -> str:
    """A test accuracy, or 'diverged' for a run whose loss became NaN or infinite (its accuracy is null)."""
    return "diverged" if diverged else fmt(accuracy, "acc")


PROVENANCE_HEADING = "## Where these numbers come from"


def provenance(*paragraphs: str) -> list[str]:
    """A page's closing section, as lines: the command that made it and where its numbers were measured. Pages put it
    after their tables: a reader wants the answer first. The page ends here, with its newline."""
    lines = [PROVENANCE_HEADING, ""]
    for paragraph in paragraphs:
        lines += [paragraph, ""]
    return lines
