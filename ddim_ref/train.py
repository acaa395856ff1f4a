"""Training eps_theta with the simple loss (DDPM's L_simple = L_gamma with gamma = 1, eq. 5). notebooks/06.

AdamW, linear warm-up then cosine decay of the learning rate, gradient clipping, an EMA of the
weights, t uniform in 1..T. On CUDA: bf16 autocast and channels_last (neither helps on CPU: benchmarks/); torch.compile on request.
Several GPUs or machines: `torchrun --nproc_per_node=N -m ddim_ref train ...` runs
DistributedDataParallel with one data shard per rank; only rank 0 writes.

Exact resume: every random draw of step k (minibatch, t, eps, dropout) is a pure function of
(seed, k, rank), and the checkpoint holds model, EMA, optimizer and loss history, so an interrupted
and resumed run produces the same losses as an uninterrupted one (tested). Ctrl-C saves a checkpoint.
"""

import contextlib
import math
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from . import checkpoint, data, schedules
from .forward import append_dims, q_sample
from .models import load_model, make_alpha_bar, make_model, model_config_to_dict
from .plotting import save_image_grid
from .samplers import sample
from .unet import UNetConfig


@dataclass
class TrainConfig:
    """Optimisation settings; saved in the checkpoint sidecar (a resume must use the same ones)."""

    dataset: str = "mnist"  # "mnist" or a name in data.TOY_DATASETS
    steps: int = 20_000  # total optimizer steps
    batch_size: int = 128  # per rank
    lr: float = 2e-4
    warmup_steps: int = 500
    min_lr_ratio: float = 0.1  # cosine decay from lr to lr * min_lr_ratio at the last step
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    T: int = 1000
    schedule: str = "linear"  # "linear" (1e-4..0.02) or "cosine"
    seed: int = 0
    toy_size: int = 20_000  # number of points drawn once for a toy data set
    p_uncond: float = 0.0  # class-conditional models: probability of replacing a label by the null label

    def __post_init__(self):
        if self.dataset != "mnist" and self.dataset not in data.TOY_DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; allowed: mnist, {', '.join(data.TOY_DATASETS)}")
        if self.schedule not in ("linear", "cosine"):
            raise ValueError(f"unknown schedule {self.schedule!r}; allowed: linear, cosine")
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0 or not 0 <= self.ema_decay < 1:
            raise ValueError(f"need steps >= 1, batch_size >= 1, lr > 0 and 0 <= ema_decay < 1, got {self}")
        if not 0 < self.min_lr_ratio <= 1 or not 0 <= self.p_uncond < 1:
            raise ValueError(f"need 0 < min_lr_ratio <= 1 and 0 <= p_uncond < 1, got {self.min_lr_ratio} and {self.p_uncond}")


def load_training_data(cfg):
    """The training set: MNIST images (60000, 1, 28, 28) in [-1, 1] and labels (60000,), or a toy set (toy_size, 2) and None."""
    if cfg.dataset == "mnist":
        return data.load_mnist("train")
    return data.toy_dataset(cfg.dataset, cfg.toy_size, seed=cfg.seed), None


def learning_rate(cfg, step):
    """Linear warm-up to cfg.lr over warmup_steps, then cosine decay to lr * min_lr_ratio at cfg.steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


@torch.no_grad()
def ema_update(ema, model, decay):
    """ema <- decay * ema + (1 - decay) * model, parameter by parameter (buffers copied)."""
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def step_seed(seed, step, rank):
    """The seed of all random draws of one step on one rank: resuming at any step reproduces them."""
    return (seed * 1_000_003 + step) * 1009 + rank


def train(cfg, model_config, out_dir, *, device=None, resume=True, stop_after=None, compile=False,
          ckpt_every=500, sample_every=2000, snapshot_every=0, log_every=25, progress=True):
    """Train eps_theta on cfg.dataset; writes out_dir/{last.pt, last.json, ema.pt, samples_*.png}. notebooks/06.

    stop_after: return after this global step (to simulate an interruption or split a long run).
    snapshot_every: also keep the EMA weights of every this many steps as ema_{step:06d}.pt (quality against compute).
    Returns {"losses": per-step loss list (all steps so far), "step": last step, "wall_time": seconds}.
    """
    rank, world, local_rank = _init_distributed()
    device = torch.device(device) if device else torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    is_cuda = device.type == "cuda"
    out_dir = Path(out_dir)
    alpha_bar = make_alpha_bar(cfg).to(device)
    x_data, labels = load_training_data(cfg)  # kept on the CPU; one minibatch at a time moves to the device
    num_classes = getattr(model_config, "num_classes", 0)
    if num_classes and labels is None:
        raise ValueError(f"a class-conditional model needs a labelled data set (mnist), got dataset {cfg.dataset!r}")
    if num_classes and int(labels.max()) >= num_classes:
        raise ValueError(f"the data have labels up to {int(labels.max())}, but the model has num_classes = {num_classes}")
    if cfg.p_uncond and not num_classes:
        raise ValueError(f"p_uncond = {cfg.p_uncond} needs a class-conditional model (num_classes > 0)")

    torch.manual_seed(cfg.seed)  # the initial weights depend on the seed alone
    model = make_model(model_config, alpha_bar.cpu()).to(device)
    ema = make_model(model_config, alpha_bar.cpu()).to(device).eval()
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    channels_last = is_cuda and isinstance(model_config, UNetConfig)  # CUDA only: no gain on CPU (benchmarks/)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    meta_config = {"train": asdict(cfg), "model": model_config_to_dict(model_config)}
    last = out_dir / "last.pt"
    start, losses, wall = 0, [], 0.0
    if resume and last.is_file():
        checkpoint.check_config(checkpoint.load_meta(last).get("config", {}), meta_config, f"checkpoint {last}")
        state = checkpoint.load_checkpoint(last, map_location=device)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        start, losses, wall = int(state["step"]), state["losses"].tolist(), float(state["wall_time"])

    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if is_cuda else None)
    if compile:
        net = torch.compile(net)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if is_cuda else contextlib.nullcontext()

    def save(step):
        if rank != 0:
            return
        state = {"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                 "step": torch.tensor(step), "losses": torch.tensor(losses), "wall_time": torch.tensor(wall)}
        meta = {"config": meta_config, "steps": step, "wall_time_s": round(wall, 1), "world_size": world,
                "final_loss": _recent_mean(losses), "loss_curve": loss_curve(losses),
                "provenance": checkpoint.provenance()}
        checkpoint.save_checkpoint(out_dir / "ema.pt", ema.state_dict(), meta)
        if snapshot_every and step % snapshot_every == 0:
            checkpoint.save_checkpoint(out_dir / f"ema_{step:06d}.pt", ema.state_dict(), meta)
        checkpoint.save_checkpoint(last, state, meta)  # last: a resume never starts from a state whose EMA is unsaved

    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    bar = _progress_bar(start, cfg.steps, enabled=progress and rank == 0)
    step = start
    t0 = time.perf_counter()
    with _StopOnInterrupt() as interrupt:
        for step in range(start, end):
            torch.manual_seed(step_seed(cfg.seed, step, rank))  # t, eps and dropout of this step
            idx = data.minibatch_indices(len(x_data), cfg.batch_size, step, cfg.seed, rank, world)
            x0 = x_data[idx].to(device, non_blocking=True)  # (B, ...) data
            t = torch.randint(1, cfg.T + 1, (x0.shape[0],), device=device)  # (B,) uniform in 1..T
            eps = torch.randn_like(x0)
            x_t = q_sample(x0, append_dims(alpha_bar[t], x0.ndim).float(), eps)
            if channels_last:
                x_t = x_t.contiguous(memory_format=torch.channels_last)
            cond = ()
            if num_classes:  # label dropout: the null label trains the unconditional model (classifier-free guidance)
                y = labels[idx].to(device)  # (B,)
                drop = torch.rand(y.shape, device=device) < cfg.p_uncond
                cond = (torch.where(drop, torch.full_like(y, num_classes), y),)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, step)
            with autocast:
                loss = F.mse_loss(net(x_t, t, *cond).float(), eps)  # L_simple
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            ema_update(ema, model, min(cfg.ema_decay, (1 + step) / (10 + step)))

            loss = loss.detach()
            if world > 1:
                dist.all_reduce(loss, op=dist.ReduceOp.AVG)
            losses.append(loss.item())
            step += 1  # steps completed
            if bar is not None:
                bar.update(1)
                if step % log_every == 0 or step == end:
                    bar.set_postfix(loss=f"{_recent_mean(losses):.4f}", lr=f"{learning_rate(cfg, step - 1):.2e}")
            if step % ckpt_every == 0 or step == end or interrupt.requested or (snapshot_every and step % snapshot_every == 0):
                wall += time.perf_counter() - t0
                t0 = time.perf_counter()
                save(step)
            if rank == 0 and sample_every and step % sample_every == 0 and cfg.dataset == "mnist":
                write_sample_grid(ema, alpha_bar, out_dir / f"samples_{step:06d}.png", cfg.T, device)
            if interrupt.requested:  # Ctrl-C: the state of the last whole step is saved; resume continues exactly
                if bar is not None:
                    bar.close()
                print(f"\ninterrupted: saved step {step} to {last}; run the same command again to resume")
                raise KeyboardInterrupt
    if bar is not None:
        bar.close()
    return {"losses": losses, "step": step, "wall_time": wall}


@torch.no_grad()
def write_sample_grid(model, alpha_bar, path, T, device, n=64, S=50, seed=0):
    """Save an n-image DDIM (eta = 0, S steps) sample grid of the current EMA model."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    c = model.config
    x_T = torch.randn(n, c.in_channels, c.image_size, c.image_size, generator=g).to(device)
    x0 = sample(model, x_T, alpha_bar, schedules.timesteps(T, S, "uniform"))
    save_image_grid(x0, path, nrow=8)


class _StopOnInterrupt:
    """While active, the first Ctrl-C (SIGINT) only sets `requested`; the loop saves and stops at the step's end."""

    requested = False

    def __enter__(self):
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def loss_curve(losses, every=50):
    """[[step, mean loss of the `every` steps ending there], ...] for plotting the training curve. notebooks/06."""
    return [[i + every, round(sum(losses[i:i + every]) / every, 5)] for i in range(0, len(losses) - every + 1, every)]


def _recent_mean(losses, k=100):
    return float(sum(losses[-k:]) / max(1, len(losses[-k:]))) if losses else float("nan")


def _progress_bar(start, total, enabled):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc="training", unit="step", dynamic_ncols=True)


def _init_distributed():
    """(rank, world_size, local_rank); initialises torch.distributed when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, 0
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    return dist.get_rank(), dist.get_world_size(), local_rank


def load_ema_model(path, device="cpu"):
    """The EMA model of a run (ema.pt or an exported one), its TrainConfig and sidecar; for sampling use models.load_model."""
    model, _, meta = load_model(path, device)
    train_cfg = TrainConfig(**{k: v for k, v in meta["config"]["train"].items() if k in {f.name for f in fields(TrainConfig)}})
    return model, train_cfg, meta
