"""Test-wide settings and shared fixtures."""

import pytest
import torch

from ddim_ref.train import TrainConfig, train
from ddim_ref.unet import UNetConfig

# The tests use small tensors: one thread avoids OpenMP overhead and behaves well on a loaded 2-core machine.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """EMA weights (with sidecar) of a tiny U-Net trained for two steps: for CLI and experiment smoke tests."""
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(dataset="mnist", steps=2, batch_size=4, warmup_steps=1)
    unet = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attn_resolutions=(14,))
    train(cfg, unet, out, progress=False, sample_every=0)
    return out / "ema.pt"
