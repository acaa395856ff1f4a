"""Building and loading networks (ddim_ref.models): old checkpoints load, the skip parametrisation, class conditioning."""

import json

import pytest
import torch

from ddim_ref import checkpoint, models, schedules
from ddim_ref.train import TrainConfig, train
from ddim_ref.unet import UNet, UNetConfig

SMALL = dict(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attn_resolutions=(4,), image_size=8, num_groups=4, T=50)
ALPHA_BAR = schedules.alpha_bars(schedules.linear_betas(50))


def _randomise_output(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.conv_out.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))


def test_shipped_checkpoint_loads_with_its_schedule():
    """The shipped sidecar predates the parametrisation and num_classes fields: the defaults apply."""
    model, alpha_bar, meta = models.load_model(models.DEFAULT_CHECKPOINT)
    assert not model.training and alpha_bar.dtype == torch.float64 and alpha_bar.shape == (meta["config"]["model"]["T"] + 1,)
    torch.testing.assert_close(alpha_bar, schedules.alpha_bars(schedules.linear_betas(1000)))
    assert model.config.parametrisation in ("eps", "skip") and model.config.num_classes in (0, 10)


def test_old_sidecar_without_new_fields_loads(tmp_path):
    cfg = UNetConfig(**SMALL)
    state = UNet(cfg).state_dict()
    model_dict = {k: v for k, v in models.model_config_to_dict(cfg).items() if k not in ("parametrisation", "num_classes")}
    checkpoint.save_checkpoint(tmp_path / "old.pt", state, {"config": {"model": model_dict, "train": {"schedule": "linear", "T": 50}}})
    model, alpha_bar, _ = models.load_model(tmp_path / "old.pt")
    assert model.config.parametrisation == "eps" and model.config.num_classes == 0
    assert set(model.state_dict()) == set(state)  # no new parameters or buffers in an unconditional eps-model


def test_skip_parametrisation_is_exact_as_alpha_goes_to_zero():
    """eps = sqrt(1 - alpha_t) x_t + sqrt(alpha_t) F: for any F, eps -> x_t as alpha_t -> 0 (and x_t -> eps there)."""
    torch.manual_seed(0)
    skip = UNet(UNetConfig(**SMALL, parametrisation="skip"), alpha_bar=ALPHA_BAR).eval()
    plain = UNet(UNetConfig(**SMALL)).eval()
    plain.load_state_dict(skip.state_dict())  # the same F
    _randomise_output(skip), _randomise_output(plain)
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    for t in (1, 25, 50):
        tt = torch.full((4,), t)
        a = float(ALPHA_BAR[t])
        torch.testing.assert_close(skip(x, tt), (1 - a) ** 0.5 * x + a**0.5 * plain(x, tt))  # float32 defaults
    a_T = float(ALPHA_BAR[50])
    assert (skip(x, torch.full((4,), 50)) - x).abs().max() < 2 * a_T**0.5 * plain(x, torch.full((4,), 50)).abs().max() + 1e-6
    with pytest.raises(ValueError, match="needs alpha_bar"):
        UNet(UNetConfig(**SMALL, parametrisation="skip"))
    with pytest.raises(ValueError, match="unknown parametrisation"):
        UNetConfig(**SMALL, parametrisation="x0")


def test_conditional_model_labels_and_null_label():
    torch.manual_seed(0)
    model = UNet(UNetConfig(**SMALL, num_classes=3)).eval()
    _randomise_output(model)
    with torch.no_grad():
        model.label_emb.weight.normal_()
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([5, 40])
    null = model(x, t, torch.tensor([3, 3]))
    torch.testing.assert_close(model(x, t), null)  # y=None is the null label
    assert (model(x, t, torch.tensor([0, 1])) - null).abs().max() > 1e-4  # labels change the prediction
    with pytest.raises(ValueError, match=r"labels must lie in 0..3"):
        model(x, t, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="unconditional"):
        UNet(UNetConfig(**SMALL))(x, t, torch.tensor([0, 1]))


def test_conditional_training_with_label_dropout_round_trips(tmp_path):
    cfg = TrainConfig(dataset="mnist", steps=3, batch_size=8, warmup_steps=1, p_uncond=0.5)
    unet = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attn_resolutions=(14,), num_classes=10,
                      parametrisation="skip")
    train(cfg, unet, tmp_path, progress=False, sample_every=0)
    model, alpha_bar, meta = models.load_model(tmp_path / "ema.pt")
    assert model.config.num_classes == 10 and model.config.parametrisation == "skip"
    assert meta["config"]["train"]["p_uncond"] == 0.5
    out = model(torch.randn(2, 1, 28, 28), torch.tensor([1, 1000]), torch.tensor([3, 10]))
    assert out.shape == (2, 1, 28, 28) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="p_uncond"):
        train(TrainConfig(dataset="mnist", steps=1, batch_size=4, p_uncond=0.2),
              UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attn_resolutions=(14,)), tmp_path / "b",
              progress=False, sample_every=0)


def test_missing_or_bad_sidecar_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        models.load_model(tmp_path / "nope.pt")
    torch.save({}, tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="missing or has no model config"):
        models.load_model(tmp_path / "bare.pt")
    (tmp_path / "bare.json").write_text(json.dumps({"config": {"model": {"kind": "gan"}}}))
    with pytest.raises(ValueError, match="unknown model kind"):
        models.load_model(tmp_path / "bare.pt")
