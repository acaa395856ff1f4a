"""Data: checksummed MNIST from data/mnist, 2-D toy distributions, and resumable minibatch indices.

MNIST is kept at its native 28x28 (no padding to 32x32): the U-Net in `ddim_ref.unet`
downsamples 28 -> 14 -> 7, so no padding is needed. Pixels are mapped to [-1, 1] by
x / 127.5 - 1, the data scaling of DDPM/DDIM; `to_unit` maps back to [0, 1] for plots and
reconstruction errors.

The MNIST files live in the repository's data/mnist (gzip-compressed IDX files, see its
README.md for the licence and checksums). Set the environment variable DDIM_REF_DATA to a
folder that contains `mnist/` to keep them elsewhere, or pass `root=` to `load_mnist`.
"""

import functools
import gzip
import hashlib
import math
import numbers
import os
import struct
from pathlib import Path

import numpy as np
import torch

# ----------------------------------------------------------------------------- MNIST

# SHA-256 of the DECOMPRESSED bytes of each file (data/mnist/README.md).
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MNIST_FILES = {  # split -> (images file, labels file)
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


class MissingDataError(FileNotFoundError, ValueError):
    """A data file is not where it should be (both a FileNotFoundError and a ValueError)."""


def mnist_root() -> Path:
    """Default MNIST folder: $DDIM_REF_DATA/mnist if set, else the repository's data/mnist."""
    if os.environ.get("DDIM_REF_DATA"):
        return Path(os.environ["DDIM_REF_DATA"]).expanduser().resolve() / "mnist"
    return Path(__file__).resolve().parent.parent / "data" / "mnist"


def read_verified(path: Path, expected_sha256: str) -> bytes:
    """Decompress a .gz file and check the SHA-256 of the decompressed bytes."""
    if not path.is_file():
        raise MissingDataError(
            f"MNIST file {path.name!r} not found; expected it at {path}. Restore it with "
            f"`git checkout data/mnist`, copy it from the MNIST site "
            f"(http://yann.lecun.com/exdb/mnist/), or set DDIM_REF_DATA to a folder containing mnist/."
        )
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as e:  # not gzip, truncated
        raise ValueError(f"{path.name!r} at {path} is corrupted: cannot decompress it ({e}).") from e
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected_sha256:
        raise ValueError(
            f"{path.name!r} at {path} is corrupted: SHA-256 of its decompressed bytes is {actual}, "
            f"expected {expected_sha256} (checksum mismatch). Restore it with `git checkout data/mnist`."
        )
    return raw


def parse_idx(raw: bytes, name: str = "IDX data") -> torch.Tensor:
    """Parse uint8 IDX bytes (big-endian magic 0x0000 08 ndim, then ndim uint32 sizes) into a uint8 tensor."""
    if len(raw) < 4:
        raise ValueError(f"{name}: too short for an IDX header ({len(raw)} bytes).")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim < 1:
        magic = struct.unpack(">I", raw[:4])[0]
        raise ValueError(f"{name}: bad IDX magic 0x{magic:08x}; expected 0x0000080N (uint8, N dims).")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name}: truncated IDX header.")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) != header + math.prod(dims):
        raise ValueError(
            f"{name}: IDX header says shape {dims} ({math.prod(dims)} bytes of data), "
            f"but the file has {len(raw) - header} bytes after the header."
        )
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy())


@functools.lru_cache(maxsize=4)
def _load_mnist_uint8(root: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Read, verify and decode one split once per (root, split); cached in memory."""
    image_file, label_file = MNIST_FILES[split]
    images = parse_idx(read_verified(Path(root) / image_file, MNIST_SHA256[image_file]), image_file)
    labels = parse_idx(read_verified(Path(root) / label_file, MNIST_SHA256[label_file]), label_file)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{image_file}: expected images of shape (N, 28, 28), got {tuple(images.shape)}.")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{label_file}: expected {images.shape[0]} labels, got shape {tuple(labels.shape)}.")
    return images, labels


def load_mnist(split: str = "train", root: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST images (N, 1, 28, 28) float32 in [-1, 1] and labels (N,) int64, checksum-verified."""
    if split not in MNIST_FILES:
        raise ValueError(f"split must be one of {sorted(MNIST_FILES)}, got {split!r}.")
    root = Path(root).expanduser().resolve() if root is not None else mnist_root()
    images_u8, labels_u8 = _load_mnist_uint8(str(root), split)  # (N, 28, 28), (N,) uint8
    # Fresh tensors on every call, so callers may modify them in place without touching the cache.
    images = images_u8.unsqueeze(1).to(torch.float32) / 127.5 - 1.0  # (N, 1, 28, 28)
    return images, labels_u8.to(torch.int64)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Map data from [-1, 1] to [0, 1]."""
    return (x + 1.0) / 2.0


def from_unit(x: torch.Tensor) -> torch.Tensor:
    """Map data from [0, 1] to [-1, 1]."""
    return x * 2.0 - 1.0


# ----------------------------------------------------------------------------- 2-D toy data
# Each returns float32 (n, 2), centred and divided by one fixed scale (aspect ratio kept) so
# that the mean per-coordinate variance is about 1. generator=None uses torch's global RNG.


def _check_n(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}.")


def two_moons(n: int, generator: torch.Generator | None = None, noise: float = 0.05) -> torch.Tensor:
    """Two interleaving half circles with Gaussian noise, (n, 2)."""
    _check_n(n)
    theta = math.pi * torch.rand(n, generator=generator)  # (n,)
    upper = torch.rand(n, generator=generator) < 0.5  # which moon
    x = torch.where(upper, torch.cos(theta), 1.0 - torch.cos(theta))
    y = torch.where(upper, torch.sin(theta), 0.5 - torch.sin(theta))
    pts = torch.stack([x, y], dim=1) + noise * torch.randn(n, 2, generator=generator)  # (n, 2)
    return (pts - torch.tensor([0.5, 0.25])) / 0.7


def swiss_roll(n: int, generator: torch.Generator | None = None, noise: float = 0.3) -> torch.Tensor:
    """2-D Swiss roll: the spiral (theta cos theta, theta sin theta), theta in [1.5 pi, 4.5 pi], (n, 2)."""
    _check_n(n)
    theta = 1.5 * math.pi * (1.0 + 2.0 * torch.rand(n, generator=generator))  # (n,)
    pts = torch.stack([theta * torch.cos(theta), theta * torch.sin(theta)], dim=1)  # (n, 2)
    pts = pts + noise * torch.randn(n, 2, generator=generator)
    return (pts - torch.tensor([2.0, 0.2])) / 6.8  # mean and scale measured on 2M samples


def gaussian_ring(n: int, generator: torch.Generator | None = None, modes: int = 8, std: float = 0.1) -> torch.Tensor:
    """Mixture of `modes` equally weighted isotropic Gaussians evenly spaced on a circle, (n, 2)."""
    _check_n(n)
    radius = math.sqrt(2.0 * (1.0 - std**2))  # per-coordinate variance radius^2 / 2 + std^2 = 1
    k = torch.randint(modes, (n,), generator=generator)  # (n,) component index
    angle = 2.0 * math.pi * k.to(torch.float32) / modes
    centres = radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)  # (n, 2)
    return centres + std * torch.randn(n, 2, generator=generator)


def checkerboard(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform on the 8 dark squares of a 4x4 checkerboard over [-2, 2]^2, (n, 2)."""
    _check_n(n)
    row = torch.randint(4, (n,), generator=generator)  # (n,)
    col = 2 * torch.randint(2, (n,), generator=generator) + row % 2  # (n,) same parity as row: dark squares
    cell = torch.stack([col, row], dim=1).to(torch.float32)  # (n, 2) lower-left corner in 0..3
    pts = cell + torch.rand(n, 2, generator=generator) - 2.0  # (n, 2) in [-2, 2]^2
    return pts / math.sqrt(4.0 / 3.0)  # uniform on [-2, 2] has variance 4/3


TOY_DATASETS = {
    "moons": two_moons,
    "swiss_roll": swiss_roll,
    "ring": gaussian_ring,
    "checkerboard": checkerboard,
}


def toy_dataset(name: str, n: int, seed: int = 0) -> torch.Tensor:
    """n samples (n, 2) float32 of the named toy distribution, deterministic given seed."""
    if name not in TOY_DATASETS:
        raise ValueError(f"unknown toy dataset {name!r}; allowed: {sorted(TOY_DATASETS)}.")
    return TOY_DATASETS[name](n, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- minibatches


def minibatch_indices(
    n: int, batch_size: int, step: int, seed: int, rank: int = 0, world_size: int = 1
) -> torch.Tensor:
    """Indices (batch_size,) of this rank's share of the global minibatch at `step`; a pure function, so resuming needs no state.

    Each epoch is a fresh permutation of range(n) drawn from a generator seeded by (seed, epoch);
    global step `step` takes the next batch_size * world_size entries of it (the incomplete tail of
    an epoch is dropped) and rank r takes the r-th slice of batch_size of those.
    """
    for label, value, low in (("n", n, 1), ("batch_size", batch_size, 1), ("step", step, 0),
                              ("world_size", world_size, 1), ("seed", seed, 0)):
        if not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{label} must be an int >= {low}, got {value!r}.")
    if not isinstance(rank, numbers.Integral) or not 0 <= rank < world_size:
        raise ValueError(f"rank must be an int in 0..{world_size - 1} (world_size={world_size}), got {rank!r}.")
    global_batch = batch_size * world_size
    if global_batch > n:
        raise ValueError(f"batch_size * world_size = {global_batch} exceeds the data set size n = {n}.")
    steps_per_epoch = n // global_batch
    epoch, i = divmod(int(step), steps_per_epoch)
    # Mix seed and epoch so that (seed, epoch + 1) does not repeat (seed + 1, epoch).
    generator = torch.Generator().manual_seed((int(seed) * 1_000_003 + epoch) % 2**63)
    perm = torch.randperm(n, generator=generator)  # (n,)
    start = i * global_batch + rank * batch_size
    return perm[start : start + batch_size]


def minibatches(x: torch.Tensor, batch_size: int, seed: int, start_step: int = 0, rank: int = 0, world_size: int = 1):
    """Endless iterator over minibatches x[idx] (batch_size, ...) from `minibatch_indices`, starting at global step start_step."""
    step = start_step
    while True:
        idx = minibatch_indices(x.shape[0], batch_size, step, seed, rank, world_size)
        yield x[idx.to(x.device)]
        step += 1
