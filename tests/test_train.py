"""Training: the loss falls, resume is exact, checkpoints are safe, DDP runs (notebooks/06)."""

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from ddim_ref import checkpoint
from ddim_ref.mlp import MLPConfig
from ddim_ref.train import TrainConfig, learning_rate, load_ema_model, train
from ddim_ref.unet import UNetConfig

TOY = TrainConfig(dataset="moons", steps=60, batch_size=64, lr=2e-3, warmup_steps=5, seed=3)
SMALL = MLPConfig(hidden=64, layers=2)


def test_toy_loss_falls(tmp_path):
    cfg = TrainConfig(dataset="moons", steps=300, batch_size=128, lr=2e-3, warmup_steps=10)
    losses = train(cfg, SMALL, tmp_path, progress=False, ckpt_every=1000)["losses"]
    first, last = sum(losses[:30]) / 30, sum(losses[-30:]) / 30
    # at init the MLP predicts ~0, so the loss starts near E||eps||^2 / 2 = 1; it must fall clearly
    assert first > 0.7 and last < 0.75 * first, (first, last)


def test_resume_is_exact(tmp_path):
    full = train(TOY, SMALL, tmp_path / "a", progress=False, ckpt_every=1000)["losses"]
    first = train(TOY, SMALL, tmp_path / "b", progress=False, stop_after=23, ckpt_every=1000)["losses"]
    assert len(first) == 23
    resumed = train(TOY, SMALL, tmp_path / "b", progress=False, ckpt_every=1000)["losses"]
    assert resumed == full  # bit for bit


def test_unet_resume_is_exact_with_dropout(tmp_path):
    cfg = TrainConfig(dataset="mnist", steps=4, batch_size=4, warmup_steps=1)
    unet = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attn_resolutions=(14,), dropout=0.3)
    full = train(cfg, unet, tmp_path / "a", progress=False, sample_every=0)["losses"]
    train(cfg, unet, tmp_path / "b", progress=False, stop_after=2, sample_every=0)
    assert train(cfg, unet, tmp_path / "b", progress=False, sample_every=0)["losses"] == full


def test_interrupt_saves_and_resumes_exactly(tmp_path):
    """Ctrl-C (SIGINT) mid-run saves the last whole step; running again continues exactly."""
    cfg = TrainConfig(dataset="moons", steps=400, batch_size=64, lr=2e-3, warmup_steps=5, seed=3)
    full = train(cfg, SMALL, tmp_path / "a", progress=False, ckpt_every=10_000)["losses"]
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        train(cfg, SMALL, tmp_path / "b", progress=False, ckpt_every=10_000)
    timer.cancel()
    saved = checkpoint.load_meta(tmp_path / "b" / "last.pt")["steps"]
    assert 0 < saved < cfg.steps
    assert train(cfg, SMALL, tmp_path / "b", progress=False, ckpt_every=10_000)["losses"] == full


def test_checkpoint_sidecar_and_weights_only(tmp_path):
    train(TOY, SMALL, tmp_path, progress=False)
    meta = json.loads((tmp_path / "ema.json").read_text())
    assert meta["steps"] == TOY.steps and meta["config"]["train"]["dataset"] == "moons"
    assert {"commit", "torch", "device", "command"} <= set(meta["provenance"]) and "final_loss" in meta
    state = torch.load(tmp_path / "last.pt", weights_only=True)  # plain tensors and dicts only
    assert set(state) == {"model", "ema", "optimizer", "step", "losses", "wall_time"}
    model, cfg, _ = load_ema_model(tmp_path / "ema.pt")
    assert cfg == TOY and not model.training
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files left behind"


def test_truncated_or_corrupted_checkpoint(tmp_path):
    train(TOY, SMALL, tmp_path, progress=False)
    data = (tmp_path / "ema.pt").read_bytes()
    (tmp_path / "ema.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupted, truncated"):
        load_ema_model(tmp_path / "ema.pt")
    (tmp_path / "ema.pt").write_bytes(b"not a checkpoint" + data[16:])
    with pytest.raises(ValueError, match="corrupted, truncated"):
        load_ema_model(tmp_path / "ema.pt")


def test_checkpoint_from_another_config(tmp_path):
    train(TOY, SMALL, tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"another configuration \(model\.hidden: saved 64 vs expected 32\)"):
        train(TOY, MLPConfig(hidden=32, layers=2), tmp_path, progress=False)
    # weights that do not match the sidecar's config
    meta = checkpoint.load_meta(tmp_path / "ema.pt")
    meta["config"]["model"]["hidden"] = 32
    (tmp_path / "ema.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="does not match the configuration"):
        load_ema_model(tmp_path / "ema.pt")


def test_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="weights-only"):
        checkpoint.load_checkpoint(tmp_path / "evil.pt")


def test_learning_rate_schedule():
    cfg = TrainConfig(steps=1000, lr=1e-3, warmup_steps=100, min_lr_ratio=0.1)
    assert learning_rate(cfg, 0) == pytest.approx(1e-5)
    assert learning_rate(cfg, 99) == pytest.approx(1e-3)
    assert learning_rate(cfg, 999) == pytest.approx(1e-4, rel=1e-3)
    with pytest.raises(ValueError, match="unknown dataset"):
        TrainConfig(dataset="cifar")


def test_ddp_two_process_gloo_smoke(tmp_path):
    """torchrun --nproc_per_node=2 on CPU (gloo): runs, only rank 0 writes, the loss is averaged over ranks."""
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "ddim_ref", "train", "--dataset", "moons", "--steps", "6", "--batch-size", "16",
           "--warmup-steps", "2", "--out", str(tmp_path / "ddp"), "--ckpt-every", "3"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = checkpoint.load_meta(tmp_path / "ddp" / "last.pt")
    assert meta["steps"] == 6 and meta["world_size"] == 2
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == ["ema.json", "ema.pt", "last.json", "last.pt"]
