"""The loader: the good cases, every bad case with its typed error, and the real data's known facts."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from helpers import TINY_TEST, TINY_TRAIN, idx_bytes, tiny_arrays, tiny_spec, write_idx

from mnist_ref.core import dataset
from mnist_ref.core.dataset import IMAGE_MAGIC, LABEL_MAGIC, MNIST_IDX
from mnist_ref.plumbing.errors import ChecksumError, DataFormatError, DataNotFoundError

# Facts from the MNIST data README.
TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FIRST_TEN_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_tiny_gzipped_files_load_with_their_shapes(tiny_dir):
    raw = dataset.load_idx_dir(tiny_dir, spec=tiny_spec())
    expected = tiny_arrays()
    assert raw.x_train.shape == (TINY_TRAIN, 28, 28) and raw.x_test.shape == (TINY_TEST, 28, 28)
    assert np.array_equal(raw.x_train, expected["train-images-idx3-ubyte"])
    assert np.array_equal(raw.y_test, expected["t10k-labels-idx1-ubyte"])
    assert raw.x_train.dtype == np.uint8
    assert set(raw.checksums) == {
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    }


def test_uncompressed_files_load_too(tmp_path):
    for name, array in tiny_arrays().items():
        write_idx(tmp_path / name, array, IMAGE_MAGIC if "images" in name else LABEL_MAGIC, gz=False)
    raw = dataset.load_idx_dir(tmp_path, spec=tiny_spec())
    assert np.array_equal(raw.y_train, tiny_arrays()["train-labels-idx1-ubyte"])


def test_missing_directory_is_data_not_found(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        dataset.load_local(tmp_path / "nowhere")


def test_missing_file_names_the_file(tiny_dir):
    (tiny_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError, match="t10k-labels-idx1-ubyte"):
        dataset.load_idx_dir(tiny_dir, spec=tiny_spec())


def test_empty_directory_says_what_it_needs(tmp_path):
    with pytest.raises(DataNotFoundError, match="four MNIST IDX files or mnist.npz"):
        dataset.load_local(tmp_path)


def test_truncated_gzip_is_a_format_error(tiny_dir):
    path = tiny_dir / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataFormatError, match="corrupt or truncated gzip"):
        dataset.load_idx_dir(tiny_dir, spec=tiny_spec())


def test_garbage_gzip_is_a_format_error(tiny_dir):
    (tiny_dir / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(DataFormatError, match="gzip"):
        dataset.load_idx_dir(tiny_dir, spec=tiny_spec())


def test_wrong_magic_number(tiny_dir):
    # An image file where a label file belongs.
    images = tiny_arrays()["t10k-images-idx3-ubyte"]
    (tiny_dir / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images, IMAGE_MAGIC)))
    with pytest.raises(DataFormatError, match="magic number is 0x00000803, expected 0x00000801"):
        dataset.load_idx_dir(tiny_dir, spec=tiny_spec())


def test_size_disagreeing_with_header(tiny_dir):
    data = idx_bytes(tiny_arrays()["train-labels-idx1-ubyte"], LABEL_MAGIC)
    (tiny_dir / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(data[:-5]))
    with pytest.raises(DataFormatError, match="truncated or padded"):
        dataset.load_idx_dir(tiny_dir, spec=tiny_spec())


def test_wrong_shape_against_the_spec(tiny_dir):
    with pytest.raises(DataFormatError, match=r"shape \(64, 28, 28\), expected \(60000, 28, 28\)"):
        dataset.load_idx_dir(tiny_dir)


def test_checksum_mismatch(tmp_path):
    # Right shapes for the real test labels (10,000 labels), wrong content.
    spec = tiny_spec()
    spec = type(spec)(spec.train_images, spec.train_labels, spec.test_images, MNIST_IDX.test_labels)
    arrays = tiny_arrays()
    arrays["t10k-labels-idx1-ubyte"] = np.zeros(10000, dtype=np.uint8)
    for name, array in arrays.items():
        write_idx(tmp_path / name, array, IMAGE_MAGIC if "images" in name else LABEL_MAGIC, gz=True)
    with pytest.raises(ChecksumError, match="sha256 of the uncompressed bytes is"):
        dataset.load_idx_dir(tmp_path, spec=spec)


def test_npz_with_wrong_hash_is_rejected(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ChecksumError, match="mnist.npz"):
        dataset.load_local(tmp_path)


def test_npz_loads_when_its_hash_is_known(tmp_path):
    arrays = tiny_arrays()
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=arrays["train-images-idx3-ubyte"],
        y_train=arrays["train-labels-idx1-ubyte"],
        x_test=arrays["t10k-images-idx3-ubyte"],
        y_test=arrays["t10k-labels-idx1-ubyte"],
    )
    raw = dataset.load_npz(path, sha256=None)
    assert raw.x_test.shape == (TINY_TEST, 28, 28) and raw.source.startswith("npz:")


def test_prepare_is_the_books_conversion(tiny_dir):
    data = dataset.prepare(dataset.load_idx_dir(tiny_dir, spec=tiny_spec()))
    assert data.x_train.shape == (TINY_TRAIN, 784) and data.x_train.dtype == np.float32
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert data.y_test.shape == (TINY_TEST, 10) and np.all(data.y_test.sum(axis=1) == 1)
    assert np.array_equal(data.y_test.argmax(axis=1), data.test_labels)
    assert data.x_val is None


def test_validation_split_is_seeded_and_disjoint():
    a_train, a_val = dataset.split_indices(100, validation_split=0.2, seed=3)
    b_train, b_val = dataset.split_indices(100, validation_split=0.2, seed=3)
    _, c_val = dataset.split_indices(100, validation_split=0.2, seed=4)
    assert len(a_val) == 20 and len(a_train) == 80
    assert np.array_equal(a_val, b_val) and not np.array_equal(a_val, c_val)
    assert not set(a_train) & set(a_val)


@pytest.mark.slow
def test_real_files_match_the_published_facts(real_raw):
    assert real_raw.x_train.shape == (60000, 28, 28) and real_raw.x_test.shape == (10000, 28, 28)
    assert np.bincount(real_raw.y_train).tolist() == TRAIN_LABEL_COUNTS
    assert np.bincount(real_raw.y_test).tolist() == TEST_LABEL_COUNTS
    assert real_raw.y_test[:10].tolist() == FIRST_TEN_TEST_LABELS
    pixels = dataset.flatten(real_raw.x_train)
    assert pixels.mean() == pytest.approx(0.1307, abs=5e-5)
    assert pixels.std() == pytest.approx(0.3081, abs=5e-5)
    assert real_raw.checksums["train-images-idx3-ubyte"] == MNIST_IDX.train_images.sha256


@pytest.mark.slow
def test_one_hot_matches_keras_to_categorical():
    from mnist_ref.core import framework

    labels = np.array([7, 2, 1, 0, 4, 1, 4, 9, 5, 9], dtype=np.uint8)
    expected = framework.keras().utils.to_categorical(labels, 10)
    assert np.array_equal(dataset.to_categorical(labels), expected)
    assert dataset.to_categorical(labels).dtype == np.float32
