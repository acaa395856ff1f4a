"""A small MLP noise predictor eps_theta(x_t, t) for 2-D toy data (fast CPU training). Used in notebooks/06."""

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from .unet import timestep_embedding


@dataclass
class MLPConfig:
    """Hyper-parameters of `MLP`; saved as JSON next to checkpoints."""

    dim: int = 2
    hidden: int = 128
    layers: int = 3
    T: int = 1000

    def to_dict(self):
        """Plain dict for the JSON sidecar."""
        return asdict(self)


class MLP(nn.Module):
    """eps_theta(x_t, t) for x_t of shape (B, dim): [x_t, embedding(t)] -> SiLU MLP -> eps (B, dim)."""

    def __init__(self, config: MLPConfig):
        super().__init__()
        self.config = c = config
        sizes = [c.dim + c.hidden] + [c.hidden] * c.layers
        blocks = [m for a, b in zip(sizes[:-1], sizes[1:]) for m in (nn.Linear(a, b), nn.SiLU())]
        self.net = nn.Sequential(*blocks, nn.Linear(c.hidden, c.dim))

    def forward(self, x, t):
        if x.ndim != 2 or x.shape[1] != self.config.dim or t.shape != x.shape[:1]:
            raise ValueError(f"need x of shape (B, {self.config.dim}) and t of shape (B,), got {tuple(x.shape)} and {tuple(t.shape)}")
        emb = timestep_embedding(t, self.config.hidden).to(x.dtype)  # (B, hidden)
        return self.net(torch.cat([x, emb], dim=1))  # (B, dim)
