"""Sampling overhead: time of samplers.sample with S steps over the time of S bare forward passes.

The loop should cost the network's forward passes and nothing else (target: overhead <= 3 %).
Usage: python benchmarks/sampling_overhead.py [--device cpu|cuda] [--batch-size 64] [--repeats 5]
"""

import argparse
import statistics
import time

import torch

from common import SHIPPED, hardware, table
from ddim_ref import samplers, schedules
from ddim_ref.unet import UNet


def timed(fn, device, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.no_grad()
def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = UNet(SHIPPED).to(device).eval()
    alpha_bar = schedules.alpha_bars(schedules.linear_betas(1000)).to(device)
    x = torch.randn(args.batch_size, 1, 28, 28, device=device)
    print(f"# sampling overhead, {hardware()}, device {device}, batch {args.batch_size}, median of {args.repeats}\n")
    rows = []
    for S, eta in [(10, 0.0), (50, 0.0), (50, 1.0)]:
        tau = schedules.timesteps(1000, S)
        t = torch.full((args.batch_size,), 500, device=device)

        def bare():
            for _ in range(S):
                model(x, t)

        def loop():
            samplers.sample(model, x, alpha_bar, tau, eta=eta, generator=torch.Generator(device=device).manual_seed(0))

        t_bare, t_loop = timed(bare, device, args.repeats), timed(loop, device, args.repeats)
        rows.append((S, eta, f"{t_bare * 1e3:.0f}", f"{t_loop * 1e3:.0f}", f"{100 * (t_loop / t_bare - 1):+.1f} %"))
        print(f"  S={S} eta={eta}: bare {t_bare:.3f} s, sample {t_loop:.3f} s", flush=True)
    print()
    table(rows, ("S", "eta", "S forward passes (ms)", "sample (ms)", "overhead"))


if __name__ == "__main__":
    main()
