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

from . import analytic, checkpoint, data, metrics, samplers, schedules

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
EXACT_TABLE1_RESULTS = FID_RESULTS.parent / "exact_table1.json"
ABLATION_RESULTS = FID_RESULTS.parent / "ablation.json"  # `reproduce ablation`: training runs at equal settings (notebooks/06)

# Uniform dequantisation: MNIST pixels are multiples of 1/127.5 on [-1, 1]; adding U(0, 1/127.5) noise
# adds this variance to every pixel. It keeps the fitted covariance positive definite (border pixels are
# always -1 in the data, variance 0), so that KL(samples || data) is finite.
DEQUANTISATION_VAR = (1 / 127.5) ** 2 / 12


def variant_name(eta, sigma_hat=False):
    """'eta = 0.2' or 'sigma-hat': the row label of Table 1."""
    return "sigma-hat" if sigma_hat else f"eta = {float(eta):g}"


def fid_cells(S_values, variants=VARIANTS, spacings=("uniform",), n=1000, seed=0, clip_x0=False):
    """The FID cells of a table: one dict per (spacing, variant, S); a variant is an eta or "sigma_hat"."""
    if isinstance(n, bool) or not isinstance(n, int) or n <= metrics.FEATURE_DIM:
        raise ValueError(f"n must be an integer above the {metrics.FEATURE_DIM} feature dimensions (the FID's covariance is "
                         f"singular otherwise), got {n!r}; the course's cells use n >= 500")
    for v in variants:
        if v != "sigma_hat" and not (isinstance(v, (int, float)) and 0 <= v):
            raise ValueError(f"a variant is an eta >= 0 or 'sigma_hat', got {v!r}")
    for spacing in spacings:
        if spacing not in schedules.SPACINGS:
            raise ValueError(f"unknown spacing {spacing!r}; choose from {schedules.SPACINGS}")
    return [{"S": int(S), "eta": 1.0 if v == "sigma_hat" else float(v), "sigma_hat": v == "sigma_hat",
             "spacing": spacing, "n": int(n), "seed": int(seed), "clip_x0": bool(clip_x0)}
            for spacing in spacings for v in variants for S in S_values]


def mnist_gaussian(alpha_bar):
    """analytic.Gaussian N(m, C + DEQUANTISATION_VAR I) fitted to the 60,000 MNIST training images on [-1, 1] (784-d). notebooks/07."""
    x = data.load_mnist("train")[0].reshape(60_000, -1).double()  # (60000, 784)
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / (x.shape[0] - 1) + DEQUANTISATION_VAR * torch.eye(x.shape[1], dtype=torch.float64)
    return analytic.Gaussian(mean, cov, alpha_bar)


def sampler_label(v):
    """'eta=0', 'eta=0.2', ..., 'sigma-hat': the sampler names of exact_table1.json."""
    return "sigma-hat" if v == "sigma_hat" else f"eta={float(v):g}"


def exact_table1(S_values=PAPER_TABLE1_S, variants=VARIANTS, starts=("standard", "exact"), spacing="uniform", progress=True):
    """Table 1 with the exact eps* of the Gaussian fitted to MNIST: W2 and KL(samples || data) in closed form. notebooks/07.

    eps* of a Gaussian is affine, so the samples of every sampler are exactly Gaussian
    (`analytic.Gaussian.sampler_moments`): no network, no sampling noise, only the sampler's own error.
    start "standard": x_T ~ N(0, I) as the course samples (keeps the prior mismatch sqrt(alpha_T) m);
    "exact": x_T ~ q(x_{tau_S}), the discretisation error alone. Returns one record per cell.
    """
    from tqdm.auto import tqdm

    alpha_bar = schedules.alpha_bars(schedules.linear_betas(1000))
    gauss = mnist_gaussian(alpha_bar)
    cells = [(S, v, start) for start in starts for v in variants for S in S_values]
    records = []
    for S, v, start in tqdm(cells, desc="exact Table 1", disable=not progress):
        t0 = time.perf_counter()
        tau = schedules.timesteps(1000, S, spacing)
        w2, kl = gauss.sampler_w2_kl(tau, 1.0 if v == "sigma_hat" else float(v), use_sigma_hat=v == "sigma_hat", start=start)
        records.append({"S": S, "sampler": sampler_label(v), "start": start, "spacing": spacing, "w2": w2, "kl": kl,
                        "seconds": round(time.perf_counter() - t0, 3)})
    return records


def reconstruction_cells(S_values=TABLE2_S, n=50, spacing="uniform", start=0, iters=0):
    """The cells of Table 2: encode MNIST test images start..start+n-1 with S steps (and `iters` fixed-point
    iterations per step, samplers.encode) and decode them with S steps."""
    if spacing not in schedules.SPACINGS:
        raise ValueError(f"unknown spacing {spacing!r}; choose from {schedules.SPACINGS}")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 0:
        raise ValueError(f"iters must be an integer >= 0, got {iters!r}")
    return [{"S": int(S), "spacing": spacing, "n": int(n), "start": int(start), "iters": iters} for S in S_values]


def fid_cell(model, alpha_bar, cell, batch_size=250, device="cpu"):
    """Course FID and KID with bootstrap SEs and replicates of cell["n"] samples of the cell's sampler (Table 1, notebooks/07)."""
    x0 = samplers.sample_images(model, alpha_bar, cell["n"], cell["S"], cell["eta"], cell["spacing"], cell["seed"],
                                cell["sigma_hat"], batch_size, device, progress=False, clip_x0=cell["clip_x0"])
    return rounded_scores(metrics.scores(x0))


def rounded_scores(result, digits=4):
    """A `metrics.scores` dict with its numbers rounded to `digits` significant digits (replicates stored for paired SEs)."""
    r = lambda v: v if isinstance(v, int) else float(f"{v:.{digits}g}")  # noqa: E731
    return {k: [r(x) for x in v] if isinstance(v, list) else r(v) for k, v in result.items()}


def held_out_images(n, seed=0):
    """n real MNIST images the classifier never saw (a random subset of classifier.HELD_OUT): FID's floor at this n."""
    from .classifier import HELD_OUT

    held_out = data.load_mnist("train")[0][HELD_OUT]
    if not 2 <= n <= len(held_out):
        raise ValueError(f"n must lie in 2..{len(held_out)}, got {n}")
    return held_out[torch.randperm(len(held_out), generator=torch.Generator().manual_seed(seed))[:n]]


def real_fid(n, seed=0):
    """Course FID and KID (with SEs) of n held-out real images: what a perfect sampler would score at this n."""
    return rounded_scores(metrics.scores(held_out_images(n, seed)))


def reconstruction_cell(model, alpha_bar, cell, batch_size=250, device="cpu"):
    """Per-dimension MSE on [0, 1] of DDIM (eta = 0) encode -> decode with S steps, mean and SE over images (Table 2).

    Also the network calls per image: S (iters + 1) to encode and S to decode."""
    x0_all = data.load_mnist("test")[0][cell["start"]:cell["start"] + cell["n"]]  # (n, 1, 28, 28) in [-1, 1]
    if len(x0_all) < cell["n"]:
        raise ValueError(f"the MNIST test set has no images {cell['start']}..{cell['start'] + cell['n'] - 1}")
    tau = schedules.timesteps(len(alpha_bar) - 1, cell["S"], cell["spacing"])
    alpha_bar = alpha_bar.to(device)
    per_image = []
    for x0 in x0_all.split(batch_size):
        x0 = x0.to(device)
        with torch.no_grad():
            rec = samplers.sample(model, samplers.encode(model, x0, alpha_bar, tau, iters=cell.get("iters", 0)), alpha_bar, tau)
        per_image.append(((data.to_unit(rec) - data.to_unit(x0)) ** 2).mean(dim=(1, 2, 3)).cpu())
    mse = torch.cat(per_image).double()  # (n,)
    return {"mse": float(mse.mean()), "mse_se": float(mse.std() / len(mse) ** 0.5) if len(mse) > 1 else None,
            "network_calls": len(tau) * (cell.get("iters", 0) + 2)}


SOLVERS = ("ddim", "ddim_eta1", "heun", "dpm_solver_2", "dpm_solver_pp_2m")
SOLVER_NFE = (5, 10, 15, 20, 30, 50)
SOLVER_RESULTS = FID_RESULTS.parent / "solvers.json"


def solver_steps(solver, nfe):
    """The number of steps S that gives `solver` about `nfe` network calls (Heun, DPM-Solver-2: 2S - 1; others: S)."""
    return max(1, (nfe + 1) // 2) if solver in ("heun", "dpm_solver_2") else nfe


def solver_cells(nfe_values=SOLVER_NFE, solvers=SOLVERS, spacing="linspace", n=500, seed=0):
    """One cell per (solver, target NFE): S from `solver_steps`; "ddim_eta1" is samplers.sample with eta = 1. notebooks/08."""
    if isinstance(n, bool) or not isinstance(n, int) or n <= metrics.FEATURE_DIM:
        raise ValueError(f"n must be an integer above the {metrics.FEATURE_DIM} feature dimensions, got {n!r}")
    for name in solvers:
        if name not in SOLVERS:
            raise ValueError(f"unknown solver {name!r}; allowed: {', '.join(SOLVERS)}")
    if spacing not in schedules.SPACINGS:
        raise ValueError(f"unknown spacing {spacing!r}; choose from {schedules.SPACINGS}")
    return [{"solver": name, "S": solver_steps(name, nfe), "spacing": spacing, "n": int(n), "seed": int(seed)}
            for name in solvers for nfe in nfe_values]


def solver_cell(model, alpha_bar, cell, batch_size=250, device="cpu"):
    """FID/KID (with replicates) of cell["n"] samples of one solver from the shared x_T, and its counted NFE. notebooks/08."""
    from . import solvers

    c = model.config
    tau = schedules.timesteps(len(alpha_bar) - 1, cell["S"], cell["spacing"])
    x_T_all = samplers.standard_latents(cell["n"], (c.in_channels, c.image_size, c.image_size), cell["seed"])
    out, calls = [], 0
    for start in range(0, cell["n"], batch_size):
        counted = solvers.count_calls(model)
        x_T = x_T_all[start:start + batch_size].to(device)
        if cell["solver"] == "ddim_eta1":
            g = torch.Generator(device=device).manual_seed(cell["seed"] * 1_000_003 + start + 1)
            x0 = samplers.sample(counted, x_T, alpha_bar.to(device), tau, eta=1.0, generator=g)
        else:
            x0 = getattr(solvers, cell["solver"])(counted, x_T, alpha_bar.to(device), tau)
        out.append(x0.cpu())
        calls = counted.calls
    return {**rounded_scores(metrics.scores(torch.cat(out))), "nfe": calls}


GUIDANCE_RESULTS = FID_RESULTS.parent / "guidance.json"
CONDITIONAL_CHECKPOINT = FID_RESULTS.parent.parent / "checkpoints" / "mnist_unet_conditional_ema.pt"


def guidance_cells(labels=tuple(range(10)), ws=(0.0, 1.0, 2.0, 4.0), S=20, eta=0.0, spacing="uniform", n=500, seed=0):
    """One cell per (label, w): n guided samples of that class, scored against the test images of that class. notebooks/09."""
    if isinstance(n, bool) or not isinstance(n, int) or n <= metrics.FEATURE_DIM:
        raise ValueError(f"n must be an integer above the {metrics.FEATURE_DIM} feature dimensions, got {n!r}")
    if any(not 0 <= y <= 9 for y in labels) or any(w < 0 for w in ws):
        raise ValueError(f"labels must lie in 0..9 and guidance weights be >= 0, got {list(labels)} and {list(ws)}")
    return [{"label": int(y), "w": float(w), "S": int(S), "eta": float(eta), "spacing": spacing, "n": int(n), "seed": int(seed)}
            for y in labels for w in ws]


def guidance_cell(model, alpha_bar, cell, batch_size=250, device="cpu"):
    """Per-class FID/KID, class accuracy and spread of classifier-free guided samples (Ho & Salimans 2021). notebooks/09.

    All cells with the same seed share x_T (samplers.standard_latents), so cells of one label are paired across w;
    "predicted" holds the course classifier's label of every sample, for paired accuracy differences."""
    from .guidance import classifier_free

    c = model.config
    guided = classifier_free(model, cell["label"], cell["w"])
    x0 = samplers.sample_images(guided, alpha_bar, cell["n"], cell["S"], cell["eta"], cell["spacing"], cell["seed"],
                                batch_size=batch_size, device=device, progress=False,
                                shape=(c.in_channels, c.image_size, c.image_size))
    result = rounded_scores(metrics.scores(x0, label=cell["label"]))
    from .classifier import load_classifier

    clf = load_classifier(device=device)
    with torch.no_grad():
        predicted = torch.cat([clf(x.to(device)).argmax(1).cpu() for x in x0.split(batch_size)])  # (n,): paired accuracy
    return {**result, "accuracy": float((predicted == cell["label"]).double().mean()), "predicted": predicted.tolist()}


EPS_ERROR_T = (1, 10, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000)
EPS_ERROR_RESULTS = FID_RESULTS.parent / "eps_error.json"


def eps_error_cells(ts=EPS_ERROR_T, n=1000, seed=0):
    """One cell per t: the network's noise-prediction error on n held-out MNIST test images at that t."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    return [{"t": int(t), "n": n, "seed": int(seed)} for t in ts]


def eps_error_cell(model, alpha_bar, cell, batch_size=250, device="cpu"):
    """Per-dimension MSE E|eps_theta(x_t, t) - eps|^2 / D and the scale of eps_theta on held-out images at one t. notebooks/07.

    scale = E|eps_theta|^2 / E<eps_theta, eps>: the optimal predictor E[eps | x_t] leaves a residual
    orthogonal to every function of x_t, so its scale is exactly 1, while s * E[eps | x_t] has scale s.
    Measurable without knowing the optimum: s > 1 is an over-confident, s < 1 a shrunken prediction.
    SEs over images (the MSE) and by a bootstrap over images (the ratio).
    """
    T = len(alpha_bar) - 1
    if not 1 <= cell["t"] <= T:
        raise ValueError(f"t must lie in 1..{T}, got {cell['t']}")
    x0_all = data.load_mnist("test")[0][:cell["n"]]  # (n, 1, 28, 28): the first n test images
    g = torch.Generator().manual_seed(cell["seed"] * 1_000_003 + cell["t"])
    eps_all = torch.randn(x0_all.shape, generator=g)
    a = float(alpha_bar[cell["t"]])
    sq_err, sq_pred, inner = [], [], []
    for x0, eps in zip(x0_all.split(batch_size), eps_all.split(batch_size)):
        x_t = (a**0.5 * x0 + (1 - a) ** 0.5 * eps).to(device)
        with torch.no_grad():
            pred = model(x_t, torch.full((x0.shape[0],), cell["t"], dtype=torch.long, device=device)).cpu().double()
        eps = eps.double()
        sq_err.append(((pred - eps) ** 2).flatten(1).mean(1))
        sq_pred.append((pred**2).flatten(1).mean(1))
        inner.append((pred * eps).flatten(1).mean(1))
    sq_err, sq_pred, inner = torch.cat(sq_err), torch.cat(sq_pred), torch.cat(inner)  # (n,) each
    boot_g = torch.Generator().manual_seed(0)
    idx = [torch.randint(len(inner), (len(inner),), generator=boot_g) for _ in range(200)]
    scales = torch.tensor([float(sq_pred[i].mean() / inner[i].mean()) for i in idx])
    return {"mse": float(sq_err.mean()), "mse_se": float(sq_err.std() / len(sq_err) ** 0.5),
            "scale": float(sq_pred.mean() / inner.mean()), "scale_se": float(scales.std())}


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


def training_fingerprint(path):
    """checkpoint_fingerprint plus what the run spent and how it was made (from the sidecar): ablation records. notebooks/06."""
    meta = checkpoint.load_meta(path)
    train_cfg = meta.get("config", {}).get("train", {})
    steps = meta.get("steps")
    return {**checkpoint_fingerprint(path), "run": Path(path).resolve().parent.name, "steps": steps,
            "images": steps * train_cfg.get("batch_size", 0) * meta.get("world_size", 1) if steps else None,
            "wall_time_s": meta.get("wall_time_s"), "train_command": meta.get("provenance", {}).get("command")}


def training_run(record):
    """The folder a record's checkpoint was trained in (--out of its train_command), else its "run": one line per run. notebooks/06."""
    words = (record.get("train_command") or "").split()
    at = [i for i, w in enumerate(words[:-1]) if w == "--out"]  # argparse keeps the last --out
    return words[at[-1] + 1] if at else record.get("run")


def run_cells(path, cells, compute, fingerprint, progress=True):
    """Compute the cells that `path` does not hold for this fingerprint, storing each at once; all records of `cells`.

    compute(cell) -> dict of results. Each new record holds the cell, the results, the fingerprint,
    its wall time in seconds and the provenance (hardware, command, commit).
    """
    from tqdm.auto import tqdm

    records = load_records(path)
    todo = [c for c in cells if find_record(records, c, fingerprint) is None]
    commit = checkpoint.provenance()["commit"] or ""
    if todo and commit.endswith("-dirty"):
        print(f"warning: the working tree has uncommitted changes; new records will name commit {commit} (dirty)")
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
    """(a - b) / SE for two stored records: paired SE when both share x_T and replicates (same n, seed), else sqrt(se_a^2 + se_b^2)."""
    if a.get(value + "_boot") and b.get(value + "_boot") and a.get("n") == b.get("n") and a.get("seed") == b.get("seed"):
        diff, se = metrics.paired_difference(a, b, value)
        return diff / se
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


def measured_eps_scale(records):
    """t -> the network's eps scale (eps_error records of one checkpoint), linear between the stored t. notebooks/07.

    The function `analytic.Gaussian.sampler_w2_kl(..., eps_scale=...)` takes: the exact eps* of the MNIST
    Gaussian miscalibrated the way the network is, on average over directions.
    """
    pts = sorted((r["t"], r["scale"]) for r in records)
    if len(pts) < 2 or len({t for t, _ in pts}) != len(pts):
        raise ValueError(f"need eps_error records of one checkpoint at two or more distinct t, got t = {[t for t, _ in pts]}")
    ts = torch.tensor([float(t) for t, _ in pts], dtype=torch.float64)
    scales = torch.tensor([s for _, s in pts], dtype=torch.float64)

    def eps_scale(t):
        i = int(torch.searchsorted(ts, torch.tensor(float(t), dtype=torch.float64)).clamp(1, len(ts) - 1))
        w = float(((float(t) - ts[i - 1]) / (ts[i] - ts[i - 1])).clamp(0, 1))
        return float((1 - w) * scales[i - 1] + w * scales[i])

    return eps_scale
