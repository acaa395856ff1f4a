"""Tests for ddim_ref.data: MNIST loading and checksums, toy distributions, minibatch indices."""

import gzip
import shutil

import pytest
import torch

from ddim_ref import data
from ddim_ref.data import load_mnist, minibatch_indices, toy_dataset

TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_mnist_test_split():
    images, labels = load_mnist("test")
    assert images.shape == (10000, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (10000,) and labels.dtype == torch.int64
    assert images.min() == -1.0 and images.max() == 1.0
    assert torch.bincount(labels, minlength=10).tolist() == TEST_LABEL_COUNTS


def test_mnist_train_split_facts():
    images, labels = load_mnist("train")
    assert images.shape == (60000, 1, 28, 28)
    assert torch.bincount(labels, minlength=10).tolist() == TRAIN_LABEL_COUNTS
    x01 = data.to_unit(images).double()
    assert abs(x01.mean().item() - 0.13066) < 1e-4
    assert abs(x01.std().item() - 0.30811) < 1e-4


def test_mnist_cache_returns_fresh_tensors():
    a, _ = load_mnist("test")
    a.zero_()
    b, _ = load_mnist("test")
    assert b.min() == -1.0  # modifying a returned tensor does not corrupt the cache


def test_unit_maps_are_inverse():
    x = torch.linspace(-1, 1, 11)
    assert torch.allclose(data.from_unit(data.to_unit(x)), x, atol=1e-6)
    assert data.to_unit(torch.tensor(-1.0)) == 0.0 and data.to_unit(torch.tensor(1.0)) == 1.0


def _copy_split(tmp_path, split="test"):
    for name in data.MNIST_FILES[split]:
        shutil.copy(data.mnist_root() / name, tmp_path / name)


def test_corrupted_file_raises(tmp_path):
    _copy_split(tmp_path)
    name = "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress((tmp_path / name).read_bytes()))
    raw[100] ^= 0x01  # flip one bit inside the label data
    (tmp_path / name).write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz.*corrupted") as info:
        load_mnist("test", root=tmp_path)
    assert data.MNIST_SHA256[name] in str(info.value)


def test_not_gzip_raises(tmp_path):
    _copy_split(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"not a gzip file")
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz.*corrupted"):
        load_mnist("test", root=tmp_path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz"):
        load_mnist("test", root=tmp_path)
    with pytest.raises(ValueError, match="git checkout data/mnist"):
        load_mnist("test", root=tmp_path)


def test_env_var_overrides_root(tmp_path, monkeypatch):
    monkeypatch.setenv("DDIM_REF_DATA", str(tmp_path))
    assert data.mnist_root() == tmp_path.resolve() / "mnist"


def test_unknown_split_raises():
    with pytest.raises(ValueError, match="train.*test|test.*train"):
        load_mnist("validation")


def test_parse_idx_header_checks():
    header = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big")
    assert data.parse_idx(header + bytes([7, 8, 9])).tolist() == [7, 8, 9]
    with pytest.raises(ValueError, match="magic"):
        data.parse_idx(bytes([0, 0, 9, 1]) + (3).to_bytes(4, "big") + bytes(3))
    with pytest.raises(ValueError, match="header says shape"):
        data.parse_idx(header + bytes(2))


@pytest.mark.parametrize("name", sorted(data.TOY_DATASETS))
def test_toy_datasets(name):
    x = toy_dataset(name, 5000, seed=1)
    assert x.shape == (5000, 2) and x.dtype == torch.float32
    assert torch.equal(x, toy_dataset(name, 5000, seed=1))
    assert not torch.equal(x, toy_dataset(name, 5000, seed=2))
    assert x.mean(0).abs().max() < 0.35  # roughly centred
    assert 0.6 < x.var(0).mean().sqrt() < 1.4  # roughly unit scale
    g = torch.Generator().manual_seed(1)
    assert torch.equal(data.TOY_DATASETS[name](5000, generator=g), x)


def test_toy_unknown_name_and_bad_n():
    with pytest.raises(ValueError, match="moons"):
        toy_dataset("spiral", 10)
    with pytest.raises(ValueError, match="positive"):
        toy_dataset("moons", 0)


def test_gaussian_ring_modes():
    x = data.gaussian_ring(4000, torch.Generator().manual_seed(0))
    radius = x.norm(dim=1)
    assert (radius - radius.mean()).abs().max() < 0.6  # all points near the circle
    angle = torch.atan2(x[:, 1], x[:, 0])
    k = torch.round(angle / (2 * torch.pi / 8)) % 8
    assert torch.bincount(k.long(), minlength=8).min() > 350  # 8 modes, each ~500 points


def test_checkerboard_on_dark_squares():
    x = data.checkerboard(4000, torch.Generator().manual_seed(0)) * (4.0 / 3.0) ** 0.5  # back to [-2, 2]^2
    assert x.abs().max() <= 2.0
    cells = torch.floor(x + 2.0).long()  # (n, 2) in 0..3
    assert ((cells[:, 0] + cells[:, 1]) % 2 == 0).all()


def test_minibatch_epoch_is_a_permutation():
    n, bs = 60, 12
    steps = [minibatch_indices(n, bs, step, seed=3) for step in range(5)]
    assert torch.equal(torch.sort(torch.cat(steps)).values, torch.arange(n))
    nxt = torch.cat([minibatch_indices(n, bs, step, seed=3) for step in range(5, 10)])
    assert torch.equal(torch.sort(nxt).values, torch.arange(n))
    assert not torch.equal(torch.cat(steps), nxt)  # a new permutation per epoch


def test_minibatch_pure_and_seeded():
    a = minibatch_indices(100, 7, step=41, seed=5)
    assert a.shape == (7,) and a.dtype == torch.int64
    assert torch.equal(a, minibatch_indices(100, 7, step=41, seed=5))
    assert not torch.equal(a, minibatch_indices(100, 7, step=41, seed=6))
    # Resuming the endless iterator at step k reproduces the uninterrupted stream.
    x = torch.arange(100.0)[:, None]
    stream = data.minibatches(x, 7, seed=5)
    full = [next(stream) for _ in range(20)]
    resumed = data.minibatches(x, 7, seed=5, start_step=13)
    assert all(torch.equal(full[k], next(resumed)) for k in range(13, 20))


def test_minibatch_ddp_shards():
    n, bs, world = 50, 4, 3
    for step in (0, 1, 5):
        shards = [minibatch_indices(n, bs, step, seed=0, rank=r, world_size=world) for r in range(world)]
        union = torch.cat(shards)
        assert len(set(union.tolist())) == bs * world  # disjoint
        assert torch.equal(union, minibatch_indices(n, bs * world, step, seed=0))


def test_minibatch_bad_arguments():
    with pytest.raises(ValueError, match="exceeds"):
        minibatch_indices(10, 6, 0, 0, world_size=2)
    with pytest.raises(ValueError, match="rank"):
        minibatch_indices(10, 2, 0, 0, rank=2, world_size=2)
    with pytest.raises(ValueError, match="step"):
        minibatch_indices(10, 2, -1, 0)
