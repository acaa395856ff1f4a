"""Tests of ddim_ref.classifier: the shipped MNIST classifier, its loader and its augmentation."""

import shutil

import pytest
import torch

from ddim_ref.checkpoint import load_meta, sidecar_path
from ddim_ref.classifier import DEFAULT_PATH, ClassifierConfig, MNISTClassifier, accuracy, load_classifier, random_shift
from ddim_ref.data import load_mnist


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()


def test_shipped_classifier_accuracy_on_test_subset(classifier):
    images, labels = load_mnist("test")
    idx = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))[:2000]
    assert not classifier.training
    assert accuracy(classifier, images[idx], labels[idx]) >= 0.99


def test_shipped_classifier_is_small_and_has_provenance():
    assert DEFAULT_PATH.stat().st_size < 2_000_000
    meta = load_meta(DEFAULT_PATH)
    assert ClassifierConfig.from_dict(meta["config"]) == ClassifierConfig()
    assert meta["test_accuracy"] >= 0.99 and {"training", "commit", "torch", "wall_time_s", "final_loss"} <= set(meta)


def test_features_and_logits_shapes(classifier):
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1  # (5, 1, 28, 28)
    with torch.no_grad():
        feats, logits = classifier.features(x), classifier(x)
    assert feats.shape == (5, 128) and logits.shape == (5, 10)
    assert (feats >= 0).all()  # after the ReLU
    assert torch.allclose(classifier.head(feats), logits, atol=1e-5)  # logits are a linear map of the features
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        classifier(torch.zeros(5, 28, 28))


def test_config_roundtrip_and_validation():
    config = ClassifierConfig(channels=(8, 16, 32), feature_dim=64, dropout=0.0)
    assert ClassifierConfig.from_dict(config.to_dict()) == config
    assert ClassifierConfig.from_dict({**config.to_dict(), "channels": [8, 16, 32]}) == config  # JSON lists
    with pytest.raises(ValueError, match="unknown"):
        ClassifierConfig.from_dict({"width": 3})
    with pytest.raises(ValueError, match="dropout"):
        ClassifierConfig(dropout=1.0)


def test_load_rejects_truncated_checkpoint(tmp_path):
    path = tmp_path / "mnist_classifier.pt"
    path.write_bytes(DEFAULT_PATH.read_bytes()[: DEFAULT_PATH.stat().st_size // 2])
    shutil.copy(sidecar_path(DEFAULT_PATH), sidecar_path(path))
    with pytest.raises(ValueError, match="corrupted|truncated"):
        load_classifier(path)


def test_load_rejects_other_config(tmp_path):
    with pytest.raises(ValueError, match="feature_dim"):
        load_classifier(DEFAULT_PATH, config=ClassifierConfig(feature_dim=64))
    # Without a sidecar the state_dict itself must still fit the config.
    path = tmp_path / "no_sidecar.pt"
    shutil.copy(DEFAULT_PATH, path)
    with pytest.raises(ValueError, match="does not match"):
        load_classifier(path, config=ClassifierConfig(feature_dim=64))


def test_random_shift_moves_a_single_pixel_within_range():
    x = torch.full((200, 1, 28, 28), -1.0)
    x[:, 0, 14, 14] = 1.0  # one bright pixel in the centre
    shifted = random_shift(x, 2, torch.Generator().manual_seed(2))  # (200, 1, 28, 28)
    assert shifted.shape == x.shape
    assert ((shifted == 1.0).sum(dim=(1, 2, 3)) == 1).all()  # the pixel is moved, never lost or copied
    rows, cols = (shifted[:, 0] == 1.0).nonzero()[:, 1:].T
    assert set((rows - 14).tolist()) == set((cols - 14).tolist()) == {-2, -1, 0, 1, 2}  # all offsets occur
    assert torch.equal(random_shift(x, 0, torch.Generator()), x)


def test_small_config_builds():
    model = MNISTClassifier(ClassifierConfig(channels=(4, 4, 4), feature_dim=8)).eval()
    assert model.features(torch.zeros(2, 1, 28, 28)).shape == (2, 8)
