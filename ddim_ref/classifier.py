"""MNIST classifier trained by the project; its penultimate features define the course's FID (notebooks/04, notebooks/07).

The network is small (about 0.24 M parameters, under 1 MB on disk); the shipped weights took
15.5 minutes to train on two CPU cores shared with another job (wall_time_s in the sidecar) and
reach 99.4 % test accuracy. It is trained on the first 55,000 MNIST training images; the last 5,000
(`HELD_OUT`) are never shown to it, so they serve as validation data and as an independent
sample of real digits when the FID of real data is measured (`ddim_ref.metrics`).

Rebuild the shipped weights with REBUILD_COMMAND below, then the reference statistics with
`ddim_ref.metrics.compute_reference_stats()` (they record the classifier's SHA-256).
"""

import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ddim_ref.checkpoint import check_config, load_checkpoint, load_meta, provenance, save_checkpoint
from ddim_ref.data import load_mnist, minibatch_indices

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "classifier" / "mnist_classifier.pt"
N_TRAIN = 55_000  # the classifier sees train images [0, N_TRAIN)
HELD_OUT = slice(N_TRAIN, 60_000)  # train images it never sees: validation and real-data FID baseline
REBUILD_COMMAND = "python -m ddim_ref train-classifier"


@dataclass
class ClassifierConfig:
    """Hyper-parameters of `MNISTClassifier`; saved as JSON next to the weights via to_dict / from_dict."""

    channels: tuple[int, ...] = (32, 64, 128)  # conv widths at 28x28, 14x14 and 7x7 (each conv is followed by a 2x2 max-pool)
    feature_dim: int = 128  # width of the penultimate layer, the FID feature space
    num_classes: int = 10
    dropout: float = 0.2  # on the features, during training only

    def __post_init__(self):
        self.channels = tuple(int(c) for c in self.channels)
        if len(self.channels) != 3 or min(self.channels) < 1:
            raise ValueError(f"channels must be 3 positive ints (one per conv layer), got {self.channels!r}.")
        if self.feature_dim < 1 or self.num_classes < 2:
            raise ValueError(f"need feature_dim >= 1 and num_classes >= 2, got {self.feature_dim}, {self.num_classes}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}.")

    def to_dict(self) -> dict:
        """Plain dict for the JSON sidecar."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ClassifierConfig":
        """Inverse of to_dict (lists from JSON become tuples); unknown keys raise ValueError."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown ClassifierConfig keys {sorted(unknown)}; allowed: {[f.name for f in fields(cls)]}.")
        return cls(**d)


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class MNISTClassifier(nn.Module):
    """(conv-pool) x 3 + linear CNN on [-1, 1] images; `features` are the penultimate activations (notebooks/04)."""

    def __init__(self, config: ClassifierConfig | None = None):
        super().__init__()
        self.config = config = config or ClassifierConfig()
        c1, c2, c3 = config.channels
        self.body = nn.Sequential(
            _conv_bn_relu(1, c1),  # (B, c1, 28, 28)
            nn.MaxPool2d(2),  # (B, c1, 14, 14)
            _conv_bn_relu(c1, c2),  # (B, c2, 14, 14)
            nn.MaxPool2d(2),  # (B, c2, 7, 7)
            _conv_bn_relu(c2, c3),  # (B, c3, 7, 7)
            nn.MaxPool2d(2),  # (B, c3, 3, 3)
            nn.Flatten(),  # (B, 9 * c3)
            nn.Linear(9 * c3, config.feature_dim),
            nn.ReLU(),  # (B, feature_dim): the FID features
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.feature_dim, config.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer activations (B, feature_dim) after the ReLU, for images (B, 1, 28, 28) in [-1, 1]."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"expected images of shape (B, 1, 28, 28) in [-1, 1], got {tuple(x.shape)}.")
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, num_classes) for images (B, 1, 28, 28) in [-1, 1]."""
        return self.head(self.dropout(self.features(x)))


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by independent integer offsets in [-max_shift, max_shift] (pad with -1, crop back)."""
    if max_shift == 0:
        return x
    B, _, H, W = x.shape  # (B, 1, H, W)
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)  # (B, 1, H + 2s, W + 2s), -1 is the background
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, B), generator=generator).to(x.device)  # (B,) each
    rows = dy[:, None] + torch.arange(H, device=x.device)  # (B, H)
    cols = dx[:, None] + torch.arange(W, device=x.device)  # (B, W)
    batch = torch.arange(B, device=x.device)[:, None, None]
    return padded[batch, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)  # (B, 1, H, W)


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of images (N, 1, 28, 28) whose argmax logit equals the label, in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, images.shape[0], batch_size):
        logits = model(images[i : i + batch_size].to(device))  # (b, 10)
        correct += (logits.argmax(1).cpu() == labels[i : i + batch_size]).sum().item()
    model.train(was_training)
    return correct / images.shape[0]


def train_classifier(
    out: str | Path | None = DEFAULT_PATH,
    epochs: int = 3,
    batch_size: int = 128,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    max_shift: int = 2,
    seed: int = 0,
    config: ClassifierConfig | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> dict:
    """Train `MNISTClassifier` with AdamW + one-cycle LR and random shifts; save weights + sidecar to `out` (notebooks/04).

    Returns a dict with the test accuracy (10,000 test images), the held-out accuracy (`HELD_OUT`),
    the final loss (mean over the last 100 steps), the wall time and the number of steps.
    `out=None` skips saving.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}.")
    if not isinstance(batch_size, int) or not 1 <= batch_size <= N_TRAIN:
        raise ValueError(f"batch_size must be an int in 1..{N_TRAIN}, got {batch_size!r}.")
    if lr <= 0 or weight_decay < 0 or not isinstance(max_shift, int) or not 0 <= max_shift <= 8:
        raise ValueError(f"need lr > 0, weight_decay >= 0 and an int max_shift in 0..8; got {lr}, {weight_decay}, {max_shift!r}.")
    config = config or ClassifierConfig()
    device = torch.device(device)
    train_x, train_y = load_mnist("train")  # (60000, 1, 28, 28), (60000,)
    test_x, test_y = load_mnist("test")  # (10000, 1, 28, 28), (10000,)
    x, y = train_x[:N_TRAIN], train_y[:N_TRAIN]
    steps_per_epoch = N_TRAIN // batch_size
    total_steps = epochs * steps_per_epoch

    start = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)  # weight init and dropout; the global RNG is restored afterwards
        model = MNISTClassifier(config).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps, pct_start=0.2)
        shift_generator = torch.Generator().manual_seed(seed + 1)
        model.train()
        losses = []
        bar = tqdm(range(total_steps), desc="classifier", disable=not progress)
        for step in bar:
            idx = minibatch_indices(N_TRAIN, batch_size, step, seed)  # (batch_size,)
            xb = random_shift(x[idx], max_shift, shift_generator).to(device)  # (B, 1, 28, 28)
            loss = F.cross_entropy(model(xb), y[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            if step % 20 == 0 or step == total_steps - 1:
                bar.set_postfix(loss=f"{sum(losses[-100:]) / len(losses[-100:]):.4f}")
        model.eval()
    wall_time = time.perf_counter() - start
    if not math.isfinite(losses[-1]):
        raise ValueError(f"classifier training diverged (final loss {losses[-1]}); try a smaller lr than {lr}.")

    result = {
        "test_accuracy": accuracy(model, test_x, test_y),
        "held_out_accuracy": accuracy(model, train_x[HELD_OUT], train_y[HELD_OUT]),
        "final_loss": sum(losses[-100:]) / len(losses[-100:]),
        "wall_time_s": round(wall_time, 1),
        "steps": total_steps,
    }
    if out is not None:
        meta = {
            "config": config.to_dict(),
            "training": {"epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                         "max_shift": max_shift, "seed": seed, "optimizer": "AdamW + OneCycleLR",
                         "train_images": f"MNIST train [0, {N_TRAIN})"},
            **result,
            **provenance(),
            "rebuild_command": REBUILD_COMMAND,
        }
        save_checkpoint(out, {k: v.detach().cpu() for k, v in model.state_dict().items()}, meta)
        result["path"] = str(out)
    return result


def load_classifier(
    path: str | Path = DEFAULT_PATH, config: ClassifierConfig | None = None, device: str | torch.device = "cpu"
) -> MNISTClassifier:
    """The trained classifier in eval mode; ValueError if the file is corrupt or from another config (notebooks/04)."""
    path = Path(path)
    expected = config or ClassifierConfig()
    meta = load_meta(path)
    if "config" in meta:  # normalise the JSON (lists -> tuples) before comparing
        check_config(ClassifierConfig.from_dict(meta["config"]).to_dict(), expected.to_dict(), what=f"classifier {path}")
    state = load_checkpoint(path, map_location=device)
    model = MNISTClassifier(expected)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as e:
        raise ValueError(f"classifier {path} does not match ClassifierConfig {expected.to_dict()}: {e}") from e
    return model.to(device).eval()
