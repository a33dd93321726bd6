"""Typed errors raised by the library; the CLI turns each into one line and an exit code."""


class MnistRefError(Exception):
    """Base class: a problem the user can fix, described in one line with the fix."""

    exit_code = 2


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


class WorkerError(MnistRefError):
    """A worker process of a multi-worker run failed or hung; the others were stopped."""

    exit_code = 1
