"""A small DDPM-style U-Net noise predictor eps_theta(x_t, t) (Ho et al. 2020, appendix B; used by DDIM).

Layout for the default 28x28 MNIST config (channel_mults=(1, 2, 2)): resolutions 28 -> 14 -> 7,
num_res_blocks ResBlocks per level, self-attention at the resolutions in attn_resolutions (7) and
always in the middle block, skip connections concatenated on the way up as in DDPM, and a
zero-initialised output conv so that the network's output F == 0 at initialisation.

t is the paper's t in 1..T (LongTensor (B,)), fed as is to the sinusoidal embedding (no t - 1).

Two choices live in the config (and so in every checkpoint's sidecar; old sidecars get the defaults):
- parametrisation "eps" (DDPM): eps_theta = F(x_t, t). "skip": eps_theta = sqrt(1 - alpha_t) x_t +
  sqrt(alpha_t) F(x_t, t), exact as alpha_t -> 0 whatever F is; F is then the v-prediction of Salimans &
  Ho (2022). Either way the model is an eps-model trained with L_simple (notebooks/06).
- num_classes > 0: a class-conditional model eps_theta(x_t, t, y), a label embedding added to the time
  embedding; label num_classes is the "null" label of the unconditional model (classifier-free guidance,
  notebooks/09). y=None means the null label.
"""

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F


PARAMETRISATIONS = ("eps", "skip")


@dataclass
class UNetConfig:
    """Hyper-parameters of `UNet`; saved as JSON next to checkpoints via to_dict / from_dict."""

    in_channels: int = 1
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)  # one level per entry; len - 1 downsamplings
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (7,)  # spatial sizes that get self-attention
    dropout: float = 0.1
    image_size: int = 28
    T: int = 1000  # largest t accepted
    num_groups: int = 8  # GroupNorm groups
    num_heads: int = 1  # attention heads
    parametrisation: str = "eps"  # "eps": eps_theta = F; "skip": eps_theta = sqrt(1 - alpha_t) x_t + sqrt(alpha_t) F
    num_classes: int = 0  # 0: unconditional; > 0: labels 0..num_classes-1, and num_classes is the null label

    def __post_init__(self):
        self.channel_mults = tuple(self.channel_mults)  # JSON gives lists
        self.attn_resolutions = tuple(self.attn_resolutions)
        if not self.channel_mults or min(self.channel_mults) < 1:
            raise ValueError(f"channel_mults must be a non-empty tuple of ints >= 1, got {self.channel_mults}.")
        factor = 2 ** (len(self.channel_mults) - 1)
        if self.image_size < 1 or self.image_size % factor != 0:
            raise ValueError(
                f"image_size={self.image_size} must be divisible by 2**(len(channel_mults) - 1) = {factor} "
                f"so that every downsampling halves it exactly."
            )
        resolutions = [self.image_size // 2**i for i in range(len(self.channel_mults))]
        if not set(self.attn_resolutions) <= set(resolutions):
            raise ValueError(f"attn_resolutions={self.attn_resolutions} must be among the resolutions {resolutions}.")
        for mult in self.channel_mults:
            ch = self.base_channels * mult
            if ch % self.num_groups != 0 or ch % self.num_heads != 0:
                raise ValueError(
                    f"channels {ch} (= base_channels * {mult}) must be divisible by "
                    f"num_groups={self.num_groups} and num_heads={self.num_heads}."
                )
        if self.parametrisation not in PARAMETRISATIONS:
            raise ValueError(f"unknown parametrisation {self.parametrisation!r}; allowed: {', '.join(PARAMETRISATIONS)}.")
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0 (0: unconditional), got {self.num_classes}.")
        if self.in_channels < 1 or self.num_res_blocks < 1 or self.T < 1 or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"need in_channels, num_res_blocks, T >= 1 and 0 <= dropout < 1, got {self}.")

    def to_dict(self) -> dict:
        """Plain dict for the JSON sidecar."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        """Inverse of to_dict (lists from JSON become tuples); unknown keys raise ValueError."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown UNetConfig keys {sorted(unknown)}; allowed: {[f.name for f in fields(cls)]}.")
        return cls(**d)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding [sin(t w_k), cos(t w_k)], w_k = max_period^(-k / (dim/2)), float32 (B, dim)."""
    if t.ndim != 1:
        raise ValueError(f"t must have shape (B,), got {tuple(t.shape)}.")
    if dim < 2 or dim % 2 != 0:
        raise ValueError(f"dim must be an even int >= 2, got {dim}.")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.to(torch.float32)[:, None] * freqs[None, :]  # (B, half)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)  # (B, dim)


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv3x3 -> + time projection -> GroupNorm -> SiLU -> dropout -> conv3x3, plus skip."""

    def __init__(self, in_ch: int, out_ch: int, temb_dim: int, dropout: float, num_groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(num_groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.temb_proj = nn.Linear(temb_dim, out_ch)
        self.norm2 = nn.GroupNorm(num_groups, out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, out_ch, H, W)
        h = h + self.temb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    """Multi-head self-attention over the H*W positions, with GroupNorm and a residual connection."""

    def __init__(self, ch: int, num_heads: int, num_groups: int):
        super().__init__()
        self.num_heads = num_heads
        self.norm = nn.GroupNorm(num_groups, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        qkv = self.qkv(self.norm(x)).reshape(B, 3, self.num_heads, C // self.num_heads, H * W)
        q, k, v = qkv.transpose(-1, -2).unbind(dim=1)  # each (B, heads, H*W, C/heads)
        h = F.scaled_dot_product_attention(q, k, v)  # (B, heads, H*W, C/heads)
        h = h.transpose(-1, -2).reshape(B, C, H, W)
        return x + self.proj(h)


class Downsample(nn.Module):
    """Halve H and W with a stride-2 conv3x3."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Double H and W with nearest-neighbour upsampling followed by a conv3x3."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UNet(nn.Module):
    """Noise predictor eps_theta(x_t, t[, y]) -> eps of the same shape as x_t, (B, C, H, W).

    alpha_bar (T+1,) is the training schedule; the "skip" parametrisation needs it (it is not saved
    in the state_dict: `models.load_model` rebuilds it from the sidecar).
    """

    def __init__(self, config: UNetConfig, alpha_bar: torch.Tensor | None = None):
        super().__init__()
        self.config = cfg = config
        if cfg.parametrisation == "skip":
            if alpha_bar is None or tuple(alpha_bar.shape) != (cfg.T + 1,):
                got = None if alpha_bar is None else tuple(alpha_bar.shape)
                raise ValueError(f"the skip parametrisation needs alpha_bar of shape (T+1,) = ({cfg.T + 1},), got {got}.")
            self.register_buffer("alpha_bar", torch.as_tensor(alpha_bar, dtype=torch.float32), persistent=False)
        ch = cfg.base_channels
        temb_dim = 4 * ch
        self.time_mlp = nn.Sequential(nn.Linear(ch, temb_dim), nn.SiLU(), nn.Linear(temb_dim, temb_dim))
        # one extra row: label num_classes is the null label (the unconditional model)
        self.label_emb = nn.Embedding(cfg.num_classes + 1, temb_dim) if cfg.num_classes > 0 else None
        self.conv_in = nn.Conv2d(cfg.in_channels, ch, 3, padding=1)

        def block(in_ch, out_ch, res):
            attn = AttnBlock(out_ch, cfg.num_heads, cfg.num_groups) if res in cfg.attn_resolutions else None
            return nn.ModuleDict(dict(res=ResBlock(in_ch, out_ch, temb_dim, cfg.dropout, cfg.num_groups), attn=attn))

        # Down path: remember the channels of every activation that is pushed as a skip.
        self.down = nn.ModuleList()
        skip_chs, res = [ch], cfg.image_size
        for level, mult in enumerate(cfg.channel_mults):
            for _ in range(cfg.num_res_blocks):
                self.down.append(block(ch, cfg.base_channels * mult, res))
                ch = cfg.base_channels * mult
                skip_chs.append(ch)
            if level != len(cfg.channel_mults) - 1:
                self.down.append(Downsample(ch))
                skip_chs.append(ch)
                res //= 2

        self.mid_res1 = ResBlock(ch, ch, temb_dim, cfg.dropout, cfg.num_groups)
        self.mid_attn = AttnBlock(ch, cfg.num_heads, cfg.num_groups)
        self.mid_res2 = ResBlock(ch, ch, temb_dim, cfg.dropout, cfg.num_groups)

        # Up path: num_res_blocks + 1 blocks per level, each eating one skip.
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.channel_mults))):
            for _ in range(cfg.num_res_blocks + 1):
                self.up.append(block(ch + skip_chs.pop(), cfg.base_channels * mult, res))
                ch = cfg.base_channels * mult
            if level != 0:
                self.up.append(Upsample(ch))
                res *= 2

        self.norm_out = nn.GroupNorm(cfg.num_groups, ch)
        self.conv_out = nn.Conv2d(ch, cfg.in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # F == 0 at initialisation
        nn.init.zeros_(self.conv_out.bias)

    def check_inputs(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """Raise ValueError on bad shapes or dtypes; t's and y's ranges are checked only for CPU tensors (no GPU sync)."""
        cfg = self.config
        expected = (cfg.in_channels, cfg.image_size, cfg.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"x must have shape (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}.")
        if t.ndim != 1 or t.shape[0] != x.shape[0]:
            raise ValueError(f"t must have shape (B,) = ({x.shape[0]},), got {tuple(t.shape)}.")
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise ValueError(f"t must be an integer (Long) tensor holding the paper's t in 1..T, got dtype {t.dtype}.")
        if t.device.type == "cpu" and t.numel() > 0 and (int(t.min()) < 1 or int(t.max()) > cfg.T):
            raise ValueError(f"t must lie in 1..T = 1..{cfg.T}, got values in {int(t.min())}..{int(t.max())}.")
        if y is None:
            return
        if cfg.num_classes == 0:
            raise ValueError("this model is unconditional (num_classes = 0): call it without a label y.")
        if y.ndim != 1 or y.shape[0] != x.shape[0] or y.is_floating_point() or y.dtype == torch.bool:
            raise ValueError(f"y must be an integer tensor of shape (B,) = ({x.shape[0]},), got {tuple(y.shape)} {y.dtype}.")
        if y.device.type == "cpu" and y.numel() > 0 and (int(y.min()) < 0 or int(y.max()) > cfg.num_classes):
            raise ValueError(f"labels must lie in 0..{cfg.num_classes} ({cfg.num_classes} is the null label), "
                             f"got values in {int(y.min())}..{int(y.max())}.")

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(x, t, y)
        emb = timestep_embedding(t, self.config.base_channels).to(x.dtype)  # (B, base) float32 -> activation dtype
        temb = self.time_mlp(emb)  # (B, 4 * base)
        if self.label_emb is not None:
            if y is None:  # the unconditional model: null label
                y = torch.full_like(t, self.config.num_classes)
            temb = temb + self.label_emb(y)  # (B, 4 * base)

        h = self.conv_in(x)  # (B, base, H, W)
        skips = [h]
        for layer in self.down:
            if isinstance(layer, Downsample):
                h = layer(h)
            else:
                h = layer["res"](h, temb)
                if layer["attn"] is not None:
                    h = layer["attn"](h)
            skips.append(h)

        h = self.mid_res2(self.mid_attn(self.mid_res1(h, temb)), temb)  # (B, ch, H / 2^L, W / 2^L)

        for layer in self.up:
            if isinstance(layer, Upsample):
                h = layer(h)
            else:
                h = layer["res"](torch.cat([h, skips.pop()], dim=1), temb)
                if layer["attn"] is not None:
                    h = layer["attn"](h)

        out = self.conv_out(F.silu(self.norm_out(h)))  # (B, C, H, W): F(x_t, t)
        if self.config.parametrisation == "skip":  # eps = sqrt(1 - alpha_t) x_t + sqrt(alpha_t) F, F = v
            a = self.alpha_bar[t].to(x.dtype)[:, None, None, None]  # (B, 1, 1, 1)
            out = (1 - a).sqrt() * x + a.sqrt() * out
        return out


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters of a module."""
    return sum(p.numel() for p in model.parameters())
