"""Building and loading noise predictors from their configs and checkpoints. Introduced in notebooks/06.

Sampling code loads a network here and never imports the training loop:

    model, alpha_bar, meta = models.load_model("data/checkpoints/mnist_unet_ema.pt")
    x0 = samplers.sample(model, x_T, alpha_bar, tau)

A checkpoint's JSON sidecar holds {"config": {"model": {...}, "train": {...}}}: the model config
(its "kind" picks the class) and the training config, whose schedule and T give alpha_bar. Keys a
sidecar lacks take their defaults, so checkpoints written before a config field existed still load.
"""

from pathlib import Path

import torch

from . import checkpoint, schedules
from .mlp import MLP, MLPConfig
from .unet import UNet, UNetConfig

SCHEDULES = ("linear", "cosine")
CHECKPOINTS = Path(__file__).resolve().parent.parent / "data" / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINTS / "mnist_unet_ema.pt"  # the course's unconditional MNIST U-Net (notebooks/06)


def make_alpha_bar(cfg):
    """alpha_bar (T+1,) float64 of a config with fields `schedule` ("linear" or "cosine") and `T`. notebooks/06."""
    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {cfg.schedule!r}; allowed: {', '.join(SCHEDULES)}")
    betas = schedules.linear_betas(cfg.T) if cfg.schedule == "linear" else schedules.cosine_betas(cfg.T)
    return schedules.alpha_bars(betas)


def make_model(model_config, alpha_bar=None):
    """A U-Net for a UNetConfig (alpha_bar: the schedule, needed by the skip parametrisation), an MLP for an MLPConfig."""
    if isinstance(model_config, UNetConfig):
        return UNet(model_config, alpha_bar=alpha_bar)
    return MLP(model_config)


def model_config_from_dict(d):
    """Rebuild the model config saved in a sidecar (the "kind" key picks the class)."""
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in ("unet", "mlp"):
        raise ValueError(f"unknown model kind {kind!r} in the sidecar; allowed: unet, mlp")
    return UNetConfig.from_dict(d) if kind == "unet" else MLPConfig(**d)


def model_config_to_dict(c):
    """Model config as a JSON-able dict with its kind."""
    return {"kind": "unet" if isinstance(c, UNetConfig) else "mlp", **c.to_dict()}


class _Schedule:
    """The two fields of a training config that define alpha_bar (read from a sidecar)."""

    def __init__(self, train):
        self.schedule, self.T = train.get("schedule", "linear"), int(train.get("T", 1000))


def load_model(path, device="cpu"):
    """(model in eval mode, alpha_bar (T+1,) float64 on `device`, sidecar dict) of a checkpoint with a sidecar. notebooks/04."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found; train one with `python -m ddim_ref train` or check the path")
    meta = checkpoint.load_meta(path)
    if "config" not in meta or "model" not in meta["config"]:
        raise ValueError(f"{checkpoint.sidecar_path(path)} is missing or has no model config: cannot tell which model {path} holds")
    model_config = model_config_from_dict(meta["config"]["model"])
    alpha_bar = make_alpha_bar(_Schedule(meta["config"].get("train", {})))
    model = make_model(model_config, alpha_bar)
    state = checkpoint.load_checkpoint(path, map_location="cpu")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{path} does not match the configuration in its sidecar: {e}") from e
    if isinstance(model_config, UNetConfig) and torch.device(device).type == "cuda":
        model = model.to(memory_format=torch.channels_last)  # faster cuDNN convolutions; no gain on CPU
    return model.to(device).eval(), alpha_bar.to(device), meta
