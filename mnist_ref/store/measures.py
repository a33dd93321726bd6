"""What a round's number is: the one vocabulary of measures, with each one's unit and how its values are written. The
schema, the bench's --bench-measure, `mnist-ref ab`, the gate and every page use it (pyperf keeps units as data the same
way); a file names its measure in mnist_ref.measure.name."""

from __future__ import annotations

import enum


class Measure(str, enum.Enum):
    """A bench file's measure; the value is the name files and options use."""

    TIME = "time"  # seconds of the book's full workload: an epoch of 60,000 images, the 10,000 test images
    INSTRUCTIONS = "instructions"  # instructions counted by callgrind over a bounded number of steps a round
    STEPS = "steps"  # seconds of 300 steps a round of every path, CPU seconds beside (the timed guard, ab's clock)

    def __str__(self) -> str:
        return self.value

    @property
    def unit(self) -> str:
        return "instructions" if self is Measure.INSTRUCTIONS else "s"

    @property
    def counted(self) -> bool:
        """Whether the rounds hold instruction counts rather than seconds."""
        return self is Measure.INSTRUCTIONS

    @property
    def bounded(self) -> bool:
        """Whether a round is a bounded number of steps (no accuracy to judge) rather than the book's whole workload."""
        return self is not Measure.TIME

    def describe(self) -> str:
        """How a page names it."""
        return {
            Measure.TIME: "seconds, all cores (`--bench-measure time`)",
            Measure.INSTRUCTIONS: "instructions counted by callgrind (the machine's load does not move a count, so it "
            "was not assessed)",
            Measure.STEPS: "seconds of 300-step rounds, all cores, CPU seconds beside (`--bench-measure steps`)",
        }[self]

    def format(self, value: float) -> str:
        """A round's value in its unit: '1.234 s', '4.74 M instructions'."""
        return f"{value / 1e6:.2f} M instructions" if self.counted else f"{value:.3f} s"


NAMES = tuple(m.value for m in Measure)
