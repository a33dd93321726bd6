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


def validate(cfg: Config) -> None:
    """Raise ConfigError naming the first out-of-range field and what it accepts."""
    if not isinstance(cfg.epochs, int) or cfg.epochs < 1:
        raise ConfigError(f"epochs must be a whole number of at least 1, got {cfg.epochs!r}")
    if not isinstance(cfg.batch_size, int) or cfg.batch_size < 1:
        raise ConfigError(f"batch size must be a whole number of at least 1, got {cfg.batch_size!r}")
    if not cfg.learning_rate > 0:
        raise ConfigError(f"learning rate must be above 0, got {cfg.learning_rate!r}")
    if not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise ConfigError(f"seed must be a whole number of 0 or more, got {cfg.seed!r}")
    if not 0.0 <= cfg.validation_split < 1.0:
        raise ConfigError(
            f"validation split must be in [0, 1), got {cfg.validation_split!r} (0.1 keeps 6,000 images)"
        )
    if not isinstance(cfg.device, str) or not _DEVICE_PATTERN.match(cfg.device):
        raise ConfigError(f"device must be cpu, gpu or gpu:N, got {cfg.device!r}")
    for name in ("replicas", "workers"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a whole number of at least 1, got {value!r}")
    if cfg.mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {cfg.mode!r}")
