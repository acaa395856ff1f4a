"""Peak memory of sampling a batch of 256 with the shipped U-Net on CPU (S steps, eta = 0).

Each measurement runs in a fresh process and reports the growth of the peak resident set size
(ru_maxrss) over the process after loading the model and allocating x_T.
Usage: python benchmarks/sampling_memory.py [--batch-size 256]
"""

import argparse
import json
import subprocess
import sys

from common import hardware, table

CHILD = r"""
import json, resource, sys, torch
sys.path.insert(0, "benchmarks")
from common import SHIPPED
from ddim_ref import samplers, schedules
from ddim_ref.unet import UNet
batch, S, no_grad = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
model = UNet(SHIPPED).eval()
alpha_bar = schedules.alpha_bars(schedules.linear_betas(1000))
x = torch.randn(batch, 1, 28, 28)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with torch.no_grad() if no_grad else torch.enable_grad():
    samplers.sample(model, x, alpha_bar, schedules.timesteps(1000, S))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_mb": base / 1024, "peak_mb": peak / 1024}))
"""


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch-size", type=int, default=256)
    args = p.parse_args()
    print(f"# peak memory of sampling on CPU, {hardware()}, batch {args.batch_size}\n")
    rows = []
    for S, no_grad in [(10, True), (50, True), (50, False)]:
        out = subprocess.run([sys.executable, "-c", CHILD, str(args.batch_size), str(S), "1" if no_grad else "0"],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        rows.append((S, "inside torch.no_grad()" if no_grad else "caller with grad enabled", f"{r['base_mb']:.0f}", f"{r['peak_mb']:.0f}",
                     f"{r['peak_mb'] - r['base_mb']:.0f}"))
    table(rows, ("S", "mode", "RSS before (MB)", "peak RSS (MB)", "growth (MB)"))


if __name__ == "__main__":
    main()
