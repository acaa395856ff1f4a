"""Tests for ddim_ref.unet: shapes, input validation, config round trip, gradients, init and layouts."""

import json

import pytest
import torch

from ddim_ref.unet import UNet, UNetConfig, count_parameters, timestep_embedding

TINY = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attn_resolutions=(4,),
                  image_size=8, num_groups=4, num_heads=2, T=50)


def _inputs(cfg, B=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)  # (B, C, H, W)
    t = torch.randint(1, cfg.T + 1, (B,), generator=g)  # (B,)
    return x, t


def _randomise_output_conv(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.conv_out.weight.copy_(0.1 * torch.randn(model.conv_out.weight.shape, generator=g))


def test_default_config_shape_and_size():
    torch.manual_seed(0)
    cfg = UNetConfig()
    model = UNet(cfg).eval()
    n = count_parameters(model)
    print(f"default UNet parameters: {n:,}")
    assert 1_000_000 < n < 2_000_000
    x, t = _inputs(cfg, B=2)
    with torch.no_grad():
        eps = model(x, t)
    assert eps.shape == x.shape and eps.dtype == x.dtype


def test_output_is_zero_at_init():
    torch.manual_seed(0)
    x, t = _inputs(TINY)
    assert torch.equal(UNet(TINY)(x, t), torch.zeros_like(x))


@pytest.mark.parametrize("cfg", [
    TINY,
    UNetConfig(in_channels=3, base_channels=8, channel_mults=(1,), num_res_blocks=1, attn_resolutions=(),
               image_size=5, num_groups=2, T=10),
    UNetConfig(base_channels=8, channel_mults=(1, 1, 2), num_res_blocks=2, attn_resolutions=(12, 3),
               image_size=12, num_groups=4, dropout=0.0),
])
def test_small_configs_shape(cfg):
    torch.manual_seed(0)
    model = UNet(cfg)
    _randomise_output_conv(model)
    x, t = _inputs(cfg)
    eps = model(x, t)
    assert eps.shape == x.shape and torch.isfinite(eps).all() and eps.abs().max() > 0


def test_timestep_embedding():
    t = torch.tensor([1, 2, 500, 1000])
    emb = timestep_embedding(t, 32)
    assert emb.shape == (4, 32) and emb.dtype == torch.float32
    assert emb.abs().max() <= 1.0
    dist = torch.cdist(emb, emb)
    assert (dist + torch.eye(4)).min() > 1e-3  # different t -> different embeddings
    with pytest.raises(ValueError, match="even"):
        timestep_embedding(t, 7)


@pytest.mark.parametrize("x_shape, t, match", [
    ((2, 3, 8, 8), [1, 2], "shape"),  # wrong channels
    ((2, 1, 16, 16), [1, 2], "shape"),  # wrong image size
    ((1, 8, 8), [1], "shape"),  # not 4-D
    ((2, 1, 8, 8), [0, 2], "1..T"),  # t below 1
    ((2, 1, 8, 8), [1, 51], "1..T"),  # t above T
    ((2, 1, 8, 8), [1, 2, 3], r"\(B,\)"),  # t wrong length
    ((2, 1, 8, 8), [[1], [2]], r"\(B,\)"),  # t wrong rank
])
def test_forward_rejects_bad_inputs(x_shape, t, match):
    model = UNet(TINY)
    with pytest.raises(ValueError, match=match):
        model(torch.zeros(x_shape), torch.tensor(t))


def test_forward_rejects_float_t():
    with pytest.raises(ValueError, match="integer"):
        UNet(TINY)(torch.zeros(2, 1, 8, 8), torch.tensor([1.0, 2.0]))


def test_config_validation():
    with pytest.raises(ValueError, match="divisible"):
        UNetConfig(image_size=30, channel_mults=(1, 2, 2))
    with pytest.raises(ValueError, match="attn_resolutions"):
        UNetConfig(attn_resolutions=(8,))
    with pytest.raises(ValueError, match="num_groups"):
        UNetConfig(base_channels=12)
    with pytest.raises(ValueError, match="unknown"):
        UNetConfig.from_dict({"image_size": 28, "widht": 3})


def test_config_json_round_trip():
    for cfg in (UNetConfig(), TINY):
        back = UNetConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
        assert back == cfg and isinstance(back.channel_mults, tuple)


def test_backward_gives_finite_grads_everywhere():
    torch.manual_seed(0)
    model = UNet(TINY)
    _randomise_output_conv(model)  # with a zero output conv only conv_out would get a gradient
    x, t = _inputs(TINY)
    loss = (model(x, t) - torch.randn_like(x)).pow(2).mean()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().max() > 0, name


def test_channels_last_matches_contiguous():
    torch.manual_seed(0)
    model = UNet(TINY).eval()
    _randomise_output_conv(model)
    x, t = _inputs(TINY)
    with torch.no_grad():
        ref = model(x, t)
        out = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last), t)
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-4)


def test_bf16_autocast_runs():
    torch.manual_seed(0)
    model = UNet(TINY).eval()
    _randomise_output_conv(model)
    x, t = _inputs(TINY)
    with torch.no_grad():
        ref = model(x, t)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x, t)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert (out.float() - ref).abs().max() < 0.05 * ref.abs().max() + 1e-3
