"""Typed errors raised by the library, and the exit codes of the mnist-ref command; the CLI turns each error
into one line and an exit code."""

import enum


class ExitCode(enum.IntEnum):
    """What a CI job reads from `mnist-ref compare` (and every other command)."""

    OK = 0
    SLOWER = 1  # a performance regression, and nothing else
    BAD_INPUT = 2  # bad input or options, an output that could not be written, a case or path missing from a side
    INCORRECT = 3  # a correctness regression (or a stack that failed the oracle)
    # the work could not finish: a data-parallel worker failed or hung, a sweep left a configuration without a band
    INCOMPLETE = 4
    NOT_JUDGED = (
        5  # measured, but the speed could not be judged here and now (a contended machine, too few processes): rerun
    )


# When several outcomes meet in one run, the most severe wins, whatever order they happened in: a verdict
# that was reached is never hidden behind a lesser problem (an unwritable report, a path not compared).
SEVERITY = (
    ExitCode.OK,
    ExitCode.NOT_JUDGED,
    ExitCode.BAD_INPUT,
    ExitCode.INCOMPLETE,
    ExitCode.SLOWER,
    ExitCode.INCORRECT,
)


def most_severe(*codes: int) -> ExitCode:
    """The exit code of a run whose outcomes were codes: INCORRECT over SLOWER over INCOMPLETE over BAD_INPUT over
    NOT_JUDGED over OK."""
    return max((ExitCode(c) for c in codes), key=SEVERITY.index, default=ExitCode.OK)


class MnistRefError(Exception):
    """Base class: a problem the user can fix, described in one line with the fix."""

    exit_code = ExitCode.BAD_INPUT


class ConfigError(MnistRefError):
    """A run configuration value is out of range."""


class DataNotFoundError(MnistRefError):
    """The MNIST data directory or one of its files does not exist."""


class DataFormatError(MnistRefError):
    """A data file is unreadable: corrupt gzip, wrong IDX magic, wrong shape."""


class ChecksumError(MnistRefError):
    """A data file's content does not match its published sha256."""


class DownloadError(MnistRefError):
    """No local data and Keras' download of mnist.npz failed."""


class DeviceError(MnistRefError):
    """The requested device is unknown or not present."""


class BackendError(MnistRefError):
    """The requested Keras backend is unknown, not installed, or conflicts with the one loaded."""


class ReportError(MnistRefError):
    """A benchmark or run JSON file cannot be turned into a report."""


class OutputError(MnistRefError):
    """An output file cannot be written; the message names the file the user asked for, not a temporary."""


class WorkerError(MnistRefError):
    """A worker process of a multi-worker run failed or hung; the others were stopped."""

    exit_code = ExitCode.INCOMPLETE
