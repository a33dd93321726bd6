"""The oracle's verdict as text: each compared quantity against its tolerance, and the trajectory."""

from __future__ import annotations

from mnist_ref.reporting.tables import table


def _sci(value: float) -> str:
    return f"{value:.2e}"


def render(document: dict) -> str:
    """Checks (quantity, difference, tolerance, ok) and the trajectory table, with a closing verdict line."""
    checks = [
        [c["quantity"], _sci(c["difference"]), _sci(c["tolerance"]), "ok" if c["ok"] else "DIFFERS"]
        for c in document["checks"]
    ]
    parts = [table(checks, ["quantity", "difference", "tolerance", "verdict"], label_columns=1, tablefmt="simple")]
    if document["trajectory"]:
        rows = [
            [str(p["step"]), _sci(p["max_weight_difference"]), f"{p['keras_loss']:.6f}", f"{p['reference_loss']:.6f}"]
            for p in document["trajectory"]
        ]
        parts += [
            "",
            "trajectory (reported, not judged):",
            table(
                rows,
                ["step", "max |weight difference|", "Keras loss", "reference loss"],
                label_columns=0,
                tablefmt="simple",
            ),
        ]
    failed = [c["quantity"] for c in document["checks"] if not c["ok"]]
    verdict = (
        f"{document['backend']}: matches the reference of the book's math"
        if not failed
        else f"{document['backend']}: DIFFERS from the reference in {', '.join(failed)}"
    )
    return "\n".join([*parts, "", verdict])
