"""The run configuration: the book's defaults in one frozen dataclass."""

from __future__ import annotations

import dataclasses
import re

from mnist_ref.plumbing.errors import ConfigError

# Keras' SGD default learning rate (keras.optimizers.SGD, Keras 2 and 3 alike); the book
# compiles with optimizer='sgd', i.e. this value.
KERAS_SGD_DEFAULT_LEARNING_RATE = 0.01
# The book's schedule: model.fit(x_train, y_train, epochs=5, batch_size=32).
BOOK_EPOCHS = 5
BOOK_BATCH_SIZE = 32
DEFAULT_SEED = 42
MODES = ("book", "tuned")
# steps_per_execution used by the tuned mode: enough steps per call that Python dispatch
# stops dominating a 784-64-10 model's step, small enough to keep progress output useful.
TUNED_STEPS_PER_EXECUTION = 100
_DEVICE_PATTERN = re.compile(r"^(cpu|gpu)(:\d+)?$")


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that defines one run; the defaults are the book's example."""

    epochs: int = BOOK_EPOCHS
    batch_size: int = BOOK_BATCH_SIZE
    learning_rate: float = KERAS_SGD_DEFAULT_LEARNING_RATE
    seed: int = DEFAULT_SEED
    validation_split: float = 0.0
    device: str = "cpu"
    deterministic: bool = False
    mode: str = "book"
    # Data parallelism (mnist_ref.scale.data_parallel): devices per worker process, and worker processes; the global
    # batch stays batch_size.
    replicas: int = 1
    workers: int = 1

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict:
        """The configuration as a JSON-ready dict."""
        return dataclasses.asdict(self)


# The bounds of a run's numbers: past them a value is a typo, not an experiment (a seed NumPy's generators take; a batch
# no larger than the training set; a learning rate that is a finite number, where SGD on this model diverges long
# before 100).
MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 60_000
MAX_LEARNING_RATE = 100.0
MAX_SEED = 2**32 - 1
MAX_PROCESSES = 256  # data-parallel devices or worker processes


def validate(cfg: Config) -> None:
    """Raise ConfigError naming the first out-of-range field and what it accepts."""
    if not isinstance(cfg.epochs, int) or not 1 <= cfg.epochs <= MAX_EPOCHS:
        raise ConfigError(f"epochs must be a whole number from 1 to {MAX_EPOCHS}, got {cfg.epochs!r}")
    if not isinstance(cfg.batch_size, int) or not 1 <= cfg.batch_size <= MAX_BATCH_SIZE:
        raise ConfigError(f"batch size must be a whole number from 1 to {MAX_BATCH_SIZE:,}, got {cfg.batch_size!r}")
    if not 0 < cfg.learning_rate <= MAX_LEARNING_RATE:  # NaN and infinity fail this too
        raise ConfigError(f"learning rate must be above 0 and at most {MAX_LEARNING_RATE:g}, got {cfg.learning_rate!r}")
    if not isinstance(cfg.seed, int) or not 0 <= cfg.seed <= MAX_SEED:
        raise ConfigError(f"seed must be a whole number from 0 to {MAX_SEED}, got {cfg.seed!r}")
    if not 0.0 <= cfg.validation_split < 1.0:
        raise ConfigError(f"validation split must be in [0, 1), got {cfg.validation_split!r} (0.1 keeps 6,000 images)")
    if not isinstance(cfg.device, str) or not _DEVICE_PATTERN.match(cfg.device):
        raise ConfigError(f"device must be cpu, gpu or gpu:N, got {cfg.device!r}")
    for name in ("replicas", "workers"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or not 1 <= value <= MAX_PROCESSES:
            raise ConfigError(f"{name} must be a whole number from 1 to {MAX_PROCESSES}, got {value!r}")
    if cfg.mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {cfg.mode!r}")
