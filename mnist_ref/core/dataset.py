"""The book's step 1: load MNIST (verified) and convert it to the model's format."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from mnist_ref.plumbing import interrupts
from mnist_ref.plumbing.checkout import portable_path
from mnist_ref.plumbing.errors import ChecksumError, DataFormatError, DataNotFoundError, DownloadError

DATA_ENV = "MNIST_REF_DATA"
NUM_CLASSES = 10
IMAGE_SIDE = 28
TRAIN_IMAGES, TEST_IMAGES = 60_000, 10_000  # MNIST's training and test sets
IMAGE_MAGIC = 0x00000803  # IDX: unsigned bytes, 3 dimensions
LABEL_MAGIC = 0x00000801  # IDX: unsigned bytes, 1 dimension
# sha256 of Keras' mnist.npz, as keras.datasets.mnist.load_data() verifies it.
KERAS_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


@dataclasses.dataclass(frozen=True)
class IdxFile:
    """One IDX file: its name, the array shape it must hold, its published sha256 (uncompressed)."""

    name: str
    shape: tuple[int, ...]
    sha256: str | None


@dataclasses.dataclass(frozen=True)
class IdxSpec:
    """The four files of an IDX-format MNIST directory."""

    train_images: IdxFile
    train_labels: IdxFile
    test_images: IdxFile
    test_labels: IdxFile


# The LeCun files; sha256 of the uncompressed bytes as published in the MNIST data README.
MNIST_IDX = IdxSpec(
    train_images=IdxFile(
        "train-images-idx3-ubyte",
        (TRAIN_IMAGES, IMAGE_SIDE, IMAGE_SIDE),
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    train_labels=IdxFile(
        "train-labels-idx1-ubyte",
        (TRAIN_IMAGES,),
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    test_images=IdxFile(
        "t10k-images-idx3-ubyte",
        (TEST_IMAGES, IMAGE_SIDE, IMAGE_SIDE),
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    test_labels=IdxFile(
        "t10k-labels-idx1-ubyte",
        (TEST_IMAGES,),
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
)


@dataclasses.dataclass(frozen=True)
class RawMnist:
    """MNIST as loaded: uint8 images (N, 28, 28) and uint8 labels, plus where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    checksums: dict


@dataclasses.dataclass(frozen=True)
class Dataset:
    """The book's format: float32 (N, 784) in [0, 1] and one-hot float32 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    test_labels: np.ndarray


def parse_idx(data: bytes, *, name: str, magic: int) -> np.ndarray:
    """Parse IDX bytes with the given magic number into a uint8 array."""
    if len(data) < 4:
        raise DataFormatError(f"{name}: only {len(data)} bytes, too short for an IDX header; re-download the file")
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        raise DataFormatError(
            f"{name}: IDX magic number is 0x{found:08x}, expected 0x{magic:08x}; "
            "the file is not an MNIST IDX file of this kind (images/labels swapped or wrong file?)"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFormatError(f"{name}: truncated IDX header; re-download the file")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise DataFormatError(
            f"{name}: header announces shape {shape} ({expected} bytes) but the file has {len(data)} bytes; "
            "the file is truncated or padded, re-download it"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _read_bytes(directory: Path, name: str) -> tuple[bytes, Path]:
    """Read NAME or NAME.gz from directory, uncompressed."""
    for path in (directory / name, directory / f"{name}.gz"):
        if not path.is_file():
            continue
        if path.suffix != ".gz":
            return path.read_bytes(), path
        try:
            return gzip.decompress(path.read_bytes()), path
        except (OSError, EOFError, zlib.error) as exc:
            raise DataFormatError(
                f"{path}: corrupt or truncated gzip ({exc}); re-download it or replace it with the uncompressed file"
            ) from None
    raise DataNotFoundError(
        f"{directory}: missing {name} (or {name}.gz); the directory needs all four MNIST IDX files or mnist.npz"
    )


def _load_idx_file(directory: Path, spec: IdxFile, *, magic: int) -> tuple[np.ndarray, str]:
    data, path = _read_bytes(directory, spec.name)
    array = parse_idx(data, name=str(path), magic=magic)
    if array.shape != spec.shape:
        raise DataFormatError(f"{path}: holds an array of shape {array.shape}, expected {spec.shape}; wrong file?")
    digest = hashlib.sha256(data).hexdigest()
    if spec.sha256 is not None and digest != spec.sha256:
        raise ChecksumError(
            f"{path}: sha256 of the uncompressed bytes is {digest}, expected {spec.sha256}; "
            "the file is damaged or not the standard MNIST file, re-download it"
        )
    return array, digest


def load_idx_dir(directory: Path, *, spec: IdxSpec = MNIST_IDX) -> RawMnist:
    """Load the four IDX files (plain or gzipped) from directory, checking shapes and checksums."""
    arrays, checksums = {}, {}
    for field in dataclasses.fields(spec):
        file_spec = getattr(spec, field.name)
        magic = IMAGE_MAGIC if field.name.endswith("images") else LABEL_MAGIC
        arrays[field.name], checksums[file_spec.name] = _load_idx_file(directory, file_spec, magic=magic)
    return RawMnist(
        x_train=arrays["train_images"],
        y_train=arrays["train_labels"],
        x_test=arrays["test_images"],
        y_test=arrays["test_labels"],
        source=f"idx:{portable_path(directory)}",
        checksums=checksums,
    )


def load_npz(path: Path, *, sha256: str | None = KERAS_NPZ_SHA256) -> RawMnist:
    """Load a Keras-style mnist.npz (x_train, y_train, x_test, y_test), checking its sha256."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataNotFoundError(f"{path}: cannot read ({exc.strerror})") from None
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise ChecksumError(
            f"{path}: sha256 is {digest}, expected Keras' {sha256}; the file is damaged, re-download it"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, KeyError, zlib.error) as exc:
        raise DataFormatError(f"{path}: not a readable mnist.npz ({exc}); re-download it") from None
    return RawMnist(**arrays, source=f"npz:{portable_path(path)}", checksums={path.name: digest})


def load_local(directory: Path) -> RawMnist:
    """Load from a directory holding the IDX files or mnist.npz."""
    if not directory.is_dir():
        raise DataNotFoundError(
            f"data directory {directory} does not exist; point --data-dir or {DATA_ENV} at a directory "
            "holding the four MNIST IDX files or mnist.npz"
        )
    if not any((directory / f"{MNIST_IDX.train_images.name}{ext}").is_file() for ext in ("", ".gz")):
        npz = directory / "mnist.npz"
        if npz.is_file():
            return load_npz(npz)
    return load_idx_dir(directory)


def load_keras_download() -> RawMnist:
    """keras.datasets.mnist.load_data(): Keras downloads mnist.npz once and verifies its sha256."""
    from mnist_ref.core import framework

    try:
        (x_train, y_train), (x_test, y_test) = framework.keras().datasets.mnist.load_data()
    except Exception as exc:  # Keras wraps network errors in several types across versions.
        raise DownloadError(
            f"no local MNIST data and Keras' download of mnist.npz failed ({type(exc).__name__}); "
            f"set {DATA_ENV} or pass --data-dir to a directory holding the IDX files or mnist.npz"
        ) from None
    return RawMnist(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        source="keras-download:mnist.npz",
        checksums={"mnist.npz": KERAS_NPZ_SHA256},
    )


def load_raw(data_dir: str | os.PathLike | None = None) -> RawMnist:
    """Load MNIST from data_dir, else $MNIST_REF_DATA, else Keras' download."""
    interrupts.stage("data")
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_ENV) or None
    if chosen is not None:
        return load_local(Path(chosen).expanduser().resolve())
    return load_keras_download()


def to_categorical(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """One-hot float32 labels, as keras.utils.to_categorical makes them."""
    return np.eye(num_classes, dtype=np.float32)[labels]


def flatten(images: np.ndarray) -> np.ndarray:
    """Reshape (N, 28, 28) uint8 images to (N, 784) float32 in [0, 1], as the book does."""
    return images.reshape(len(images), IMAGE_SIDE * IMAGE_SIDE).astype("float32") / 255.0


def split_indices(n: int, *, validation_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices: a seeded permutation, the same for the same seed everywhere."""
    n_val = int(round(n * validation_split))
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def prepare(raw: RawMnist, *, validation_split: float = 0.0, seed: int = 0) -> Dataset:
    """The book's conversion, with an optional validation set carved from the training set."""
    x_train, y_train = flatten(raw.x_train), to_categorical(raw.y_train)
    x_val = y_val = None
    if validation_split > 0:
        train_idx, val_idx = split_indices(len(x_train), validation_split=validation_split, seed=seed)
        x_val, y_val = x_train[val_idx], y_train[val_idx]
        x_train, y_train = x_train[train_idx], y_train[train_idx]
    return Dataset(
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=flatten(raw.x_test),
        y_test=to_categorical(raw.y_test),
        test_labels=raw.y_test,
    )
