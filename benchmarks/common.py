"""Shared bits of the benchmark scripts: the shipped U-Net configuration and a hardware line."""

import os
import platform

import torch

from ddim_ref.unet import UNetConfig

# The configuration of the shipped checkpoint (data/checkpoints/mnist_unet_ema.json).
SHIPPED = UNetConfig(base_channels=16, channel_mults=(1, 2, 4), num_res_blocks=1, dropout=0.0)


def hardware():
    """One line naming the machine the numbers come from."""
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU threads, torch {torch.get_num_threads()} threads, {dev}, torch {torch.__version__}"


def table(rows, headers):
    """Print rows as a Markdown table."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda r: "| " + " | ".join(str(x).ljust(w) for x, w in zip(r, widths)) + " |"  # noqa: E731
    print(line(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
