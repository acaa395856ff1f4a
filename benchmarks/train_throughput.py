"""Training throughput (images/s) of the shipped U-Net: fp32 eager vs channels_last vs bf16 autocast (+ compile).

Usage: python benchmarks/train_throughput.py [--device cpu|cuda] [--batch-size 64] [--steps 20] [--compile]
Prints a Markdown table; results with their hardware go into benchmarks/README.md.
"""

import argparse
import contextlib
import time

import torch
import torch.nn.functional as F

from common import SHIPPED, hardware, table
from ddim_ref.unet import UNet, count_parameters


def throughput(device, batch_size, steps, channels_last, bf16, compile):
    torch.manual_seed(0)
    model = UNet(SHIPPED).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    net = torch.compile(model) if compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch_size, 1, 28, 28, device=device).contiguous(memory_format=fmt)
    t = torch.randint(1, 1001, (batch_size,), device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step():
        with autocast:
            loss = F.mse_loss(net(x, t).float(), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3 if not compile else 5):  # warm-up (and compilation)
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch_size * steps / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--compile", action="store_true", help="also measure torch.compile variants")
    args = p.parse_args()
    device = torch.device(args.device)
    variants = [("fp32 eager", False, False, False), ("fp32 + channels_last", True, False, False),
                ("bf16 autocast + channels_last", True, True, False)]
    if args.compile:
        variants.append(("bf16 autocast + channels_last + compile", True, True, True))
    print(f"# training throughput, {hardware()}, device {device}, U-Net {count_parameters(UNet(SHIPPED)) / 1e6:.2f} M "
          f"parameters, batch {args.batch_size}, {args.steps} timed steps\n")
    rows, base = [], None
    for name, cl, bf16, comp in variants:
        ips = throughput(device, args.batch_size, args.steps, cl, bf16, comp)
        base = base or ips
        rows.append((name, f"{ips:.0f}", f"{ips / base:.2f}x"))
        print(f"  {name}: {ips:.0f} images/s", flush=True)
    print()
    table(rows, ("variant", "images/s", "vs fp32 eager"))


if __name__ == "__main__":
    main()
