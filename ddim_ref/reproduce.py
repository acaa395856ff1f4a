"""Reproducing the paper at MNIST scale: Table 1 (FID), Table 2 (reconstruction), spacing, figures. notebooks/07.

An experiment is a list of cells, each a dict of settings. `run_cells` computes the cells that its
JSON results file does not hold yet and rewrites the file atomically after every cell, so an
interrupted run resumes where it stopped and a finished table is skipped, not recomputed. A stored
cell counts only if it was computed from the same checkpoint (the SHA-256 of the weights file).
All FID cells (Table 1, the spacing study, `evaluate`-style single settings) share one file, so a
cell that two experiments need (uniform, eta = 0, S = 10) is computed once.
"""

import fcntl
import json
import time
from pathlib import Path

import torch

from . import checkpoint, data, metrics, samplers, schedules

# Song, Meng & Ermon (ICLR 2021, arXiv 2010.02502), Table 1: FID of 50k samples, Inception features.
# CIFAR10 (32x32) on "quadratic" tau, CelebA (64x64) on "uniform" tau; rows: eta or "sigma_hat".
PAPER_TABLE1_S = (10, 20, 50, 100, 1000)
PAPER_TABLE1 = {
    "CIFAR10": {0.0: (13.36, 6.84, 4.67, 4.16, 4.04), 0.2: (14.04, 7.11, 4.77, 4.25, 4.09),
                0.5: (16.66, 8.35, 5.25, 4.46, 4.29), 1.0: (41.07, 18.36, 8.01, 5.78, 4.73),
                "sigma_hat": (367.43, 133.37, 32.72, 9.99, 3.17)},
    "CelebA": {0.0: (17.33, 13.73, 9.17, 6.53, 3.51), 0.2: (17.66, 14.11, 9.51, 6.79, 3.64),
               0.5: (19.86, 16.06, 11.01, 8.09, 4.28), 1.0: (33.12, 26.03, 18.48, 13.93, 5.98),
               "sigma_hat": (299.71, 183.83, 71.71, 45.20, 3.26)},
}
# Table 2: per-dimension MSE on the [0, 1] scale of DDIM encode -> decode on the CIFAR10 test set.
PAPER_TABLE2 = {10: 0.014, 20: 0.0065, 50: 0.0023, 100: 0.0009, 200: 0.0004, 500: 0.0001, 1000: 0.0001}

VARIANTS = (0.0, 0.2, 0.5, 1.0, "sigma_hat")  # the rows of Table 1
TABLE2_S = tuple(PAPER_TABLE2)
FID_RESULTS = Path(__file__).resolve().parent.parent / "data" / "results" / "fid.json"
RECONSTRUCTION_RESULTS = FID_RESULTS.parent / "reconstruction.json"


def variant_name(eta, sigma_hat=False):
    """'eta = 0.2' or 'sigma-hat': the row label of Table 1."""
    return "sigma-hat" if sigma_hat else f"eta = {float(eta):g}"


def fid_cells(S_values, variants=VARIANTS, spacings=("uniform",), n=200, seed=0, clip_x0=False):
    """The FID cells of a table: one dict per (spacing, variant, S); a variant is an eta or "sigma_hat"."""
    for v in variants:
        if v != "sigma_hat" and not (isinstance(v, (int, float)) and 0 <= v):
            raise ValueError(f"a variant is an eta >= 0 or 'sigma_hat', got {v!r}")
    for spacing in spacings:
        if spacing not in schedules.SPACINGS:
            raise ValueError(f"unknown spacing {spacing!r}; choose from {schedules.SPACINGS}")
    return [{"S": int(S), "eta": 1.0 if v == "sigma_hat" else float(v), "sigma_hat": v == "sigma_hat",
             "spacing": spacing, "n": int(n), "seed": int(seed), "clip_x0": bool(clip_x0)}
            for spacing in spacings for v in variants for S in S_values]


def reconstruction_cells(S_values=TABLE2_S, n=50, spacing="uniform", start=0):
    """The cells of Table 2: encode MNIST test images start..start+n-1 with S steps and decode them with S steps."""
    if spacing not in schedules.SPACINGS:
        raise ValueError(f"unknown spacing {spacing!r}; choose from {schedules.SPACINGS}")
    return [{"S": int(S), "spacing": spacing, "n": int(n), "start": int(start)} for S in S_values]


def fid_cell(model, alpha_bar, cell, batch_size=250, device="cpu"):
    """Course FID and bootstrap SE of cell["n"] samples drawn with the cell's sampler (Table 1, notebooks/07)."""
    x0 = samplers.sample_images(model, alpha_bar, cell["n"], cell["S"], cell["eta"], cell["spacing"], cell["seed"],
                                cell["sigma_hat"], batch_size, device, progress=False, clip_x0=cell["clip_x0"])
    fid, se = metrics.fid_bootstrap(x0)
    return {"fid": round(fid, 3), "fid_se": round(se, 3)}


def held_out_images(n, seed=0):
    """n real MNIST images the classifier never saw (a random subset of classifier.HELD_OUT): FID's floor at this n."""
    from .classifier import HELD_OUT

    held_out = data.load_mnist("train")[0][HELD_OUT]
    if not 2 <= n <= len(held_out):
        raise ValueError(f"n must lie in 2..{len(held_out)}, got {n}")
    return held_out[torch.randperm(len(held_out), generator=torch.Generator().manual_seed(seed))[:n]]


def real_fid(n, seed=0):
    """Course FID and bootstrap SE of n held-out real images: what a perfect sampler would score at this n."""
    fid, se = metrics.fid_bootstrap(held_out_images(n, seed))
    return {"fid": round(fid, 3), "fid_se": round(se, 3)}


def reconstruction_cell(model, alpha_bar, cell, batch_size=250, device="cpu"):
    """Per-dimension MSE on [0, 1] of DDIM (eta = 0) encode -> decode with S steps, mean and SE over images (Table 2)."""
    x0_all = data.load_mnist("test")[0][cell["start"]:cell["start"] + cell["n"]]  # (n, 1, 28, 28) in [-1, 1]
    if len(x0_all) < cell["n"]:
        raise ValueError(f"the MNIST test set has no images {cell['start']}..{cell['start'] + cell['n'] - 1}")
    tau = schedules.timesteps(len(alpha_bar) - 1, cell["S"], cell["spacing"])
    alpha_bar = alpha_bar.to(device)
    per_image = []
    for x0 in x0_all.split(batch_size):
        x0 = x0.to(device)
        with torch.no_grad():
            rec = samplers.sample(model, samplers.encode(model, x0, alpha_bar, tau), alpha_bar, tau)
        per_image.append(((data.to_unit(rec) - data.to_unit(x0)) ** 2).mean(dim=(1, 2, 3)).cpu())
    mse = torch.cat(per_image).double()  # (n,)
    return {"mse": float(mse.mean()), "mse_se": float(mse.std() / len(mse) ** 0.5) if len(mse) > 1 else None}


def load_records(path):
    """The records (a JSON list of dicts) stored at `path`, [] if there is no file yet."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        records = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}); move it away to start the table afresh") from e
    if not isinstance(records, list):
        raise ValueError(f"{path} should hold a JSON list of records")
    return records


def save_records(path, records):
    """Write the records atomically (a crash never leaves a half-written file)."""
    text = json.dumps(records, indent=1) + "\n"
    checkpoint.atomic_write_bytes(path, lambda f: f.write(text.encode()))


def find_record(records, cell, fingerprint=None):
    """The stored record with the cell's settings (and the fingerprint's checkpoint), or None."""
    want = {**cell, **(fingerprint or {})}
    for r in records:
        if all(r.get(k) == v for k, v in want.items()):
            return r
    return None


def upsert_record(path, record, key):
    """Store `record` in the JSON list at `path`, replacing a record that agrees with it on all `key` fields.

    Holds an exclusive lock on `path`.lock meanwhile, so that several commands can fill one file at once.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        records = [r for r in load_records(path) if any(r.get(k) != record.get(k) for k in key)]
        save_records(path, records + [record])


def checkpoint_fingerprint(path):
    """{"checkpoint": file name, "checkpoint_sha256": hash of its bytes}: which model a stored cell belongs to."""
    return {"checkpoint": Path(path).name, "checkpoint_sha256": metrics.file_sha256(path)}


def run_cells(path, cells, compute, fingerprint, progress=True):
    """Compute the cells that `path` does not hold for this fingerprint, storing each at once; all records of `cells`.

    compute(cell) -> dict of results. Each new record holds the cell, the results, the fingerprint,
    its wall time in seconds and the provenance (hardware, command, commit).
    """
    from tqdm.auto import tqdm

    records = load_records(path)
    todo = [c for c in cells if find_record(records, c, fingerprint) is None]
    if progress and len(todo) < len(cells):
        print(f"{len(cells) - len(todo)} of {len(cells)} cells already in {path}; computing {len(todo)}")
    bar = tqdm(todo, desc=Path(path).stem, unit="cell", disable=not progress)
    for cell in bar:
        bar.set_postfix_str(", ".join(f"{k}={v}" for k, v in cell.items() if k in ("S", "eta", "sigma_hat", "spacing")))
        t0 = time.perf_counter()
        result = compute(cell)
        record = {**cell, **result, **fingerprint, "seconds": round(time.perf_counter() - t0, 1),
                  "provenance": checkpoint.provenance()}
        upsert_record(path, record, key=tuple(cell) + tuple(fingerprint))
        records = load_records(path)
    return [find_record(records, c, fingerprint) for c in cells]


def difference_z(a, b, value="fid"):
    """(a - b) / sqrt(se_a^2 + se_b^2) for two stored records: how many standard errors a lies above b."""
    return (a[value] - b[value]) / (a[value + "_se"] ** 2 + b[value + "_se"] ** 2) ** 0.5


def table(records, row_key, col_key, value="fid", se=None, fmt="{:.1f}"):
    """Markdown table of stored records: rows by row_key(record), columns by record[col_key]; 'value +- se'."""
    rows, cols = {}, []
    for r in records:
        col = r[col_key]
        cols += [col] if col not in cols else []
        text = fmt.format(r[value]) + (f" ± {fmt.format(r[se])}" if se and r.get(se) is not None else "")
        rows.setdefault(row_key(r), {})[col] = text
    cols.sort()
    lines = ["| | " + " | ".join(f"{col_key} = {c}" for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(cells.get(c, "") for c in cols) + " |" for name, cells in rows.items()]
    return "\n".join(lines)


def consistency_rows(model, alpha_bar, S_values=(10, 20, 50, 100, 1000), n=8, seed=0, device="cpu", clip_x0=False):
    """The same x_T decoded with eta = 0 and different S (section 5.2): {"S = 10": images, ...}."""
    return {f"S = {S}": samplers.sample_images(model, alpha_bar, n, S, 0.0, "uniform", seed, device=device, progress=False,
                                               clip_x0=clip_x0)
            for S in S_values}


def interpolation_rows(model, alpha_bar, n_pairs=4, n_alpha=9, S=50, seed=0, device="cpu", clip_x0=False):
    """DDIM (eta = 0) decodes of slerp(x_T^a, x_T^b, alpha) for alpha in [0, 1] (section 5.3): one row per pair."""
    c = model.config
    z = torch.randn(2 * n_pairs, c.in_channels, c.image_size, c.image_size, generator=torch.Generator().manual_seed(seed))
    alphas = torch.linspace(0, 1, n_alpha)
    z0, z1 = z[:n_pairs].repeat_interleave(n_alpha, 0), z[n_pairs:].repeat_interleave(n_alpha, 0)
    x_T = samplers.slerp(z0, z1, alphas.repeat(n_pairs))  # (n_pairs * n_alpha, C, H, W)
    tau = schedules.timesteps(len(alpha_bar) - 1, S, "uniform")
    with torch.no_grad():
        x0 = samplers.sample(model, x_T.to(device), alpha_bar.to(device), tau, clip_x0=clip_x0).cpu()
    return {f"pair {k + 1}": x0[k * n_alpha:(k + 1) * n_alpha] for k in range(n_pairs)}


def variant_rows(model, alpha_bar, S, variants=VARIANTS, n=8, seed=0, device="cpu", clip_x0=False):
    """Samples from the same x_T with each sampler of Table 1 at S steps: {"eta = 0": images, ..., "sigma-hat": ...}."""
    return {variant_name(v, v == "sigma_hat"): samplers.sample_images(
                model, alpha_bar, n, S, 1.0 if v == "sigma_hat" else float(v), "uniform", seed,
                use_sigma_hat=v == "sigma_hat", device=device, progress=False, clip_x0=clip_x0)
            for v in variants}
