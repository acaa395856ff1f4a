"""Print the README's result tables (Markdown) from the stored results in data/results, for the shipped checkpoints.

    python tools/results_tables.py            # all tables; cells that are not stored are left empty

The README's tables are this script's output, so they stay true to data/results after `make reproduce`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ddim_ref import models, reproduce  # noqa: E402

CONDITIONAL = reproduce.CONDITIONAL_CHECKPOINT


def records_of(path, checkpoint):
    """Stored records of `path` that belong to `checkpoint` (by SHA-256)."""
    if not Path(checkpoint).is_file():
        return []
    sha = reproduce.checkpoint_fingerprint(checkpoint)["checkpoint_sha256"]
    return [r for r in reproduce.load_records(path) if r.get("checkpoint_sha256") == sha]


def pm(r, value, fmt="{:.1f}"):
    return "" if r is None else f"{fmt.format(r[value])} ± {fmt.format(r[value + '_se'])}"


def markdown(header, rows):
    return "\n".join(["| " + " | ".join(header) + " |", "|---" * len(header) + "|"] + ["| " + " | ".join(r) + " |" for r in rows])


def fid_cell(records, S, variant, spacing, n, clip_x0=False):
    hat = variant == "sigma_hat"
    found = [r for r in records if r["S"] == S and r["sigma_hat"] == hat and (hat or r["eta"] == variant) and r["spacing"] == spacing
             and r["n"] == n and r["seed"] == 0 and r["clip_x0"] == clip_x0]
    return found[0] if found else None


def table1(fid, spacing, n, value):
    S_values = sorted({r["S"] for r in fid if r["spacing"] == spacing and r["n"] == n and not r["clip_x0"]})
    rows = [[reproduce.variant_name(v if v != "sigma_hat" else 1.0, v == "sigma_hat")]
            + [pm(fid_cell(fid, S, v, spacing, n), value, "{:.1f}" if value == "fid" else "{:.2f}") for S in S_values]
            for v in reproduce.VARIANTS]
    rows = [r for r in rows if any(r[1:])]
    return markdown([f"{value.upper()}, {spacing} tau, n = {n}"] + [f"S = {S}" for S in S_values], rows)


def paired_verdicts(fid, n):
    out = []
    for S in sorted({r["S"] for r in fid if r["spacing"] == "uniform" and r["n"] == n}):
        a, b = fid_cell(fid, S, 0.0, "uniform", n), fid_cell(fid, S, 1.0, "uniform", n)
        if a and b:
            z = reproduce.difference_z(a, b)
            out.append([f"S = {S}", f"{a['fid'] - b['fid']:+.1f}", f"{z:+.1f}", f"{reproduce.difference_z(a, b, 'kid'):+.1f}",
                        f"{a['confident']:.1%} / {b['confident']:.1%}"])
    return markdown(["uniform tau, n = %d" % n, "FID(eta = 0) - FID(eta = 1)", "paired z (FID)", "paired z (KID)",
                     "confident, eta = 0 / eta = 1"], out)


def exact_table():
    exact = {(r["start"], r["sampler"], r["S"]): r for r in reproduce.load_records(reproduce.EXACT_TABLE1_RESULTS)
             if r["spacing"] == "uniform"}
    S_values = sorted({k[2] for k in exact})
    names = ["eta=0", "eta=0.2", "eta=0.5", "eta=1", "sigma-hat"]
    out = []
    for start in ("standard", "exact"):
        rows = [[name] + [f"{exact[start, name, S]['w2']:.3f}" if (start, name, S) in exact else "" for S in S_values] for name in names]
        out.append(markdown([f"W2, x_T from the {'standard normal' if start == 'standard' else 'exact q(x_T)'}"]
                            + [f"S = {S}" for S in S_values], rows))
    return "\n\n".join(out)


def table2(rec):
    by = {(r.get("iters", 0), r["S"]): r for r in rec if r["n"] == 32}
    S_values = sorted({S for _, S in by})
    rows = []
    for K, name in ((0, "usual inversion"), (3, "exact inversion, K = 3")):
        rows.append([name] + [f"{by[K, S]['mse']:.1e} ({by[K, S]['network_calls']})" if (K, S) in by else "" for S in S_values])
    rows.append(["paper: CIFAR10"] + [f"{reproduce.PAPER_TABLE2[S]:g}" for S in S_values])
    return markdown(["MSE per dimension on [0, 1] (network calls)"] + [f"S = {S}" for S in S_values], rows)


def solvers(sol):
    n = max((r["n"] for r in sol), default=None)
    sol = [r for r in sol if r["n"] == n and r["seed"] == 0]
    nfes = sorted({r["nfe"] for r in sol})
    rows = [[name] + [pm(next((r for r in sol if r["solver"] == name and r["nfe"] == nfe), None), "fid") for nfe in nfes]
            for name in dict.fromkeys(r["solver"] for r in sol)]
    spacing = ", ".join(sorted({r["spacing"] for r in sol}))
    return markdown([f"course FID, {spacing} tau, n = {n} (network calls)"] + [f"{nfe}" for nfe in nfes], rows)


def guidance(g):
    if not g:
        return "(no stored guidance results)"
    n = max(r["n"] for r in g)
    g = [r for r in g if r["n"] == n and r["seed"] == 0]
    ws = sorted({r["w"] for r in g})
    labels = sorted({r["label"] for r in g})
    mean = lambda key, w: sum(r[key] for r in g if r["w"] == w) / max(1, sum(r["w"] == w for r in g))  # noqa: E731
    rows = [["mean class accuracy"] + [f"{mean('accuracy', w):.3f}" for w in ws],
            ["mean spread (diversity)"] + [f"{mean('spread', w):.3f}" for w in ws],
            ["mean per-class FID"] + [f"{mean('fid', w):.1f}" for w in ws]]
    S, eta = g[0]["S"], g[0]["eta"]
    return markdown([f"labels {labels[0]}-{labels[-1]}, n = {n} per label, S = {S}, eta = {eta:g}"] + [f"w = {w:g}" for w in ws], rows)


def ablation():
    recs = reproduce.load_records(reproduce.ABLATION_RESULTS)
    if not recs:
        return "(no stored ablation results)"
    rows = []
    for r in sorted(recs, key=lambda r: (r["images"] or 0, r["run"], r["S"], r["eta"])):
        rows.append([f"{reproduce.training_run(r)} ({r['checkpoint']})", f"{r['steps']}", f"{r['images']:,}", f"{r['S']}", f"{r['eta']:g}",
                     pm(r, "fid"), pm(r, "kid", "{:.2f}"), f"{r['confident']:.1%}"])
    return markdown(["run (checkpoint)", "steps", "training images", "S", "eta", "FID", "KID", "confident"], rows)


def main():
    ckpt = models.DEFAULT_CHECKPOINT
    fid = records_of(reproduce.FID_RESULTS, ckpt)
    real = reproduce.real_fid(1000)
    print(f"## {ckpt.name}: Table 1\n\nheld-out real images, n = 1000: FID {real['fid']:.1f} ± {real['fid_se']:.1f}, "
          f"KID {real['kid']:.2f} ± {real['kid_se']:.2f}, confident {real['confident']:.1%}\n")
    for spacing, n in (("uniform", 1000), ("quadratic", 500)):
        for value in ("fid", "kid"):
            print(table1(fid, spacing, n, value) + "\n")
    print(paired_verdicts(fid, 1000) + "\n")
    clipped = [r for r in fid if r["clip_x0"]]
    if clipped:
        print(markdown(["clip x0, uniform, n = 1000", "not clipped", "clipped", "paired z"],
                       [[f"{reproduce.variant_name(r['eta'])}, S = {r['S']}", pm(fid_cell(fid, r["S"], r["eta"], "uniform", r["n"]), "fid"),
                         pm(r, "fid"), f"{reproduce.difference_z(fid_cell(fid, r['S'], r['eta'], 'uniform', r['n']), r):+.1f}"]
                        for r in sorted(clipped, key=lambda r: (r["eta"], r["S"]))]) + "\n")
    spacing_rows = []
    for S in (10, 20):
        u = fid_cell(fid, S, 0.0, "uniform", 1000)
        for spacing in ("trailing", "linspace"):
            o = fid_cell(fid, S, 0.0, spacing, 1000)
            if u and o:
                spacing_rows.append([f"S = {S}, {spacing}", pm(o, "fid"), pm(u, "fid"), f"{reproduce.difference_z(u, o):+.1f}"])
    if spacing_rows:
        print(markdown(["eta = 0, n = 1000", "FID", "uniform", "paired z (uniform - other)"], spacing_rows) + "\n")
    print("## Exact Table 1 (MNIST Gaussian)\n\n" + exact_table() + "\n")
    print("## Table 2\n\n" + table2(records_of(reproduce.RECONSTRUCTION_RESULTS, ckpt)) + "\n")
    print("## Solvers\n\n" + solvers(records_of(reproduce.SOLVER_RESULTS, ckpt)) + "\n")
    print("## Guidance\n\n" + guidance(records_of(reproduce.GUIDANCE_RESULTS, CONDITIONAL)) + "\n")
    print("## Ablation\n\n" + ablation())
    hours = sum(r.get("seconds", 0) for path in (reproduce.FID_RESULTS, reproduce.RECONSTRUCTION_RESULTS, reproduce.SOLVER_RESULTS,
                                                   reproduce.EPS_ERROR_RESULTS, reproduce.ABLATION_RESULTS)
                for r in reproduce.load_records(path)) / 3600
    hours += sum(r.get("seconds", 0) for r in records_of(reproduce.GUIDANCE_RESULTS, CONDITIONAL)) / 3600
    print(f"\nwall time of all stored cells: {hours:.1f} h")


if __name__ == "__main__":
    main()
