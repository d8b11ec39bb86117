import hashlib
from collections import Counter

import numpy as np

from training.datasets import cwru_bearing, neu_surface
from training.datasets.fir import decimate, lowpass_taps
from training.paths import datasets_root

from .conftest import needs_fashion_mnist, needs_shared_datasets


@needs_shared_datasets
def test_cwru_parts_tile_each_recording_in_time_order():
    root = datasets_root() / "cwru-bearing"
    recordings = cwru_bearing.load_recordings()
    assert sorted({cwru_bearing.CLASSES[r.label] for r in recordings}) == sorted(cwru_bearing.CLASSES)
    assert {r.meta["load_hp"] for r in recordings if r.meta["fault"] != "normal"} == {0, 1, 2, 3}
    for rec in recordings:
        if rec.meta["sample_rate_hz"] != cwru_bearing.SAMPLE_RATE_HZ:
            continue
        raw = np.fromfile(root / rec.meta["file"], dtype="<f4")
        joined = np.concatenate([rec.train, rec.validation, rec.test])
        assert np.array_equal(joined, raw)  # contiguous, disjoint, in time order
        assert len(rec.test) == len(raw) - int(round(0.8 * len(raw)))


@needs_shared_datasets
def test_cwru_no_test_window_appears_in_training_or_validation():
    splits = cwru_bearing.load()
    digest = lambda x: {hashlib.sha1(w.numpy().tobytes()).hexdigest() for w in x}
    test = digest(splits.test.x)
    assert len(test) == len(splits.test)
    assert not test & digest(splits.train.x)
    assert not test & digest(splits.validation.x)


def test_decimation_keeps_the_band_and_removes_aliases():
    t = np.arange(48000) / 48000
    kept = decimate(np.sin(2 * np.pi * 1000 * t), 4)
    aliased = decimate(np.sin(2 * np.pi * 10000 * t), 4)  # would fold to 2 kHz without the filter
    assert np.std(kept[200:-200]) > 0.69
    assert np.std(aliased[200:-200]) < 0.01
    assert lowpass_taps(0.225).sum() == np.float64(1.0) or abs(lowpass_taps(0.225).sum() - 1) < 1e-12


@needs_shared_datasets
def test_neu_splits_follow_the_file_numbers():
    train = neu_surface.image_paths("train")
    test = neu_surface.image_paths("test")
    assert all(neu_surface.file_number(p) % 5 == 0 for p, _ in test)
    assert all(neu_surface.file_number(p) % 5 != 0 for p, _ in train)
    validation = [p for p, _ in train if neu_surface.is_validation(p)]
    assert len(validation) == 180 and len(train) == 1440 and len(test) == 359
    assert not {p.name for p, _ in train} & {p.name for p, _ in test}


def labelled_digests(x, y):
    """How many times each (image, label) pair occurs: a split's content, independent of order."""
    return Counter(hashlib.sha1(image.numpy().tobytes() + bytes([int(label)])).hexdigest() for image, label in zip(x, y))


@needs_fashion_mnist
def test_fashion_mnist_validation_is_carved_from_training():
    from training.datasets import fashion_mnist

    splits = fashion_mnist.load()
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (55000, 5000, 10000)
    published = lambda images, labels: labelled_digests(
        fashion_mnist.preprocess(fashion_mnist.read_idx(images)), fashion_mnist.read_idx(labels)
    )
    train = labelled_digests(splits.train.x, splits.train.y)
    validation = labelled_digests(splits.validation.x, splits.validation.y)
    # The loaded splits themselves: every published training image, with its label, is in train or in validation,
    # once (a duplicate in the file counts twice on both sides); the test split is the published t10k set.
    assert train + validation == published("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    assert labelled_digests(splits.test.x, splits.test.y) == published("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    # Disjoint: an image in both would be one the file holds twice, split apart (the published file has none such).
    assert not set(train) & set(validation)
