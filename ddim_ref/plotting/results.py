"""Figures of the reproduction: our Table 1 and Table 2 next to the paper's, the spacing study (notebooks/07); the training ablation (notebooks/06)."""

from collections import Counter

VARIANT_COLORS = {0.0: "C0", 0.2: "C1", 0.5: "C2", 1.0: "C3", "sigma_hat": "C4"}


def _variant(record):
    return "sigma_hat" if record["sigma_hat"] else float(record["eta"])


def _label(variant):
    return "sigma-hat" if variant == "sigma_hat" else f"eta = {variant:g}"


def _log_axes(ax, S_values, ylabel):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(S_values, [str(S) for S in S_values])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4)))
    ax.set_xlabel("S (steps)")
    ax.set_ylabel(ylabel)


def make_table1_comparison_figure(records, paper, paper_S, n_real=None):
    """FID against S per sampler: the paper's panels (dict dataset -> {variant: FIDs at paper_S}) beside ours, one panel per spacing.

    records: stored Table 1 cells (reproduce.fid_cells + fid, fid_se); error bars are +-1 bootstrap SE.
    n_real: optional {n: FID of n real test images}, drawn as the floor of our FID at that n. notebooks/07.
    """
    import matplotlib.pyplot as plt

    order = ("uniform", "quadratic", "trailing", "linspace")
    spacings = sorted({r["spacing"] for r in records}, key=order.index)
    fig, axes = plt.subplots(1, len(paper) + len(spacings), figsize=(3.1 * (len(paper) + len(spacings)) + 1.6, 3.3),
                             squeeze=False)
    for ax, (name, rows) in zip(axes[0], paper.items()):
        for v, fids in rows.items():
            ax.plot(paper_S, fids, "o-", ms=3, color=VARIANT_COLORS.get(v), label=_label(v))
        _log_axes(ax, paper_S, "FID (Inception, 50k samples)")
        ax.set_title(f"paper: {name}", fontsize=9)
    for ax, spacing in zip(axes[0][len(paper):], spacings):
        mine = [r for r in records if r["spacing"] == spacing]
        for n in sorted({r["n"] for r in mine}):
            for v in sorted({_variant(r) for r in mine if r["n"] == n}, key=lambda v: (v == "sigma_hat", v if v != "sigma_hat" else 0)):
                pts = sorted((r["S"], r["fid"], r["fid_se"]) for r in mine if r["n"] == n and _variant(r) == v)
                ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], fmt="o-" if n == max(r["n"] for r in mine) else "s:",
                            ms=3, capsize=2, color=VARIANT_COLORS.get(v), label=f"{_label(v)}" + (f" (n={n})" if len({r['n'] for r in mine}) > 1 else ""))
        for n, value in sorted((n_real or {}).items()):
            ax.axhline(value, color="k", ls="--", lw=0.8, label=f"real images, n={n}")
        _log_axes(ax, sorted({r["S"] for r in mine}), "course FID (MNIST classifier)")
        ax.set_title(f"ours: MNIST, {spacing} tau", fontsize=9)
    axes[0][0].legend(fontsize=7)
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig


def make_reconstruction_figure(records, paper):
    """Table 2: per-dimension reconstruction MSE on [0, 1] against S, ours (MNIST, +-1 SE) and the paper's (CIFAR10). notebooks/07."""
    import matplotlib.pyplot as plt

    pts = sorted((r["S"], r["mse"], r.get("mse_se") or 0.0) for r in records)
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], fmt="o-", ms=3, capsize=2,
                label=f"ours: MNIST test images (n = {records[0]['n']})")
    ax.plot(list(paper), list(paper.values()), "s--", ms=3, color="gray", label="paper: CIFAR10 test set (rounded to 1e-4)")
    _log_axes(ax, sorted(set(paper) | {p[0] for p in pts}), "MSE per dimension, [0, 1] scale")
    ax.set_title("encode with S steps, decode with S steps (eta = 0)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def make_spacing_figure(records):
    """FID of eta = 0 against S for each tau spacing (+-1 SE): does starting the sampler at t = T matter? notebooks/07."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for k, spacing in enumerate(dict.fromkeys(r["spacing"] for r in records)):
        pts = sorted((r["S"], r["fid"], r["fid_se"]) for r in records if r["spacing"] == spacing)
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], fmt="o-", ms=3, capsize=2,
                    color=f"C{k}", label=spacing)
    _log_axes(ax, sorted({r["S"] for r in records}), "course FID")
    ax.set_title(f"eta = 0, n = {records[0]['n']} per point", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def make_training_frontier_figure(records, run_of=None, labels=None, floor=None):
    """FID and KID (+-1 SE) against training images seen, a line per (S, eta) and training run, a marker per run. notebooks/06.

    records: stored ablation records (keys images, S, eta, fid, fid_se, kid, kid_se). run_of(record) names the run a
    checkpoint belongs to (default record["run"]): the snapshots of one run are joined, other runs stand apart with
    their own marker; labels: optional {run: legend text}. floor: optional {"fid": ..., "kid": ...} of real images at
    the records' n, drawn dashed (what a perfect sampler would score).
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    run_of = run_of or (lambda r: r["run"])
    labels = labels or {}
    counts = Counter(run_of(r) for r in records)
    runs = sorted(counts, key=lambda run: -counts[run])  # the run with most snapshots first: solid line, filled markers
    settings = sorted({(r["S"], float(r["eta"])) for r in records})
    markers = "osD^vP*X"
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, value in zip(axes, ("fid", "kid")):
        for k, (S, eta) in enumerate(settings):
            for j, run in enumerate(runs):
                pts = sorted((r["images"], r[value], r[value + "_se"]) for r in records
                             if run_of(r) == run and (r["S"], float(r["eta"])) == (S, eta))
                if pts:  # other runs shifted right by 2 % per run, so that their bars do not hide the first run's
                    ax.errorbar([p[0] * (1 + 0.02 * j) for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], capsize=2, ms=5,
                                fmt=markers[j % len(markers)] + ("-" if j == 0 else ":"), color=f"C{k}",
                                mfc=f"C{k}" if j == 0 else "none")
        if floor and floor.get(value) is not None:
            ax.axhline(floor[value], color="k", ls="--", lw=0.8)
        ax.set_xscale("log")
        ax.set(xlabel="training images seen (steps x batch)", ylabel=f"course {value.upper()}")
    handles = [Line2D([], [], color=f"C{k}", lw=1.5, label=f"S = {S}, eta = {eta:g}") for k, (S, eta) in enumerate(settings)]
    handles += [Line2D([], [], color="k", ls="none", marker=markers[j % len(markers)], mfc="k" if j == 0 else "none",
                       label=labels.get(run, str(run))) for j, run in enumerate(runs)]
    if floor:
        handles.append(Line2D([], [], color="k", ls="--", lw=0.8, label="real images"))
    axes[1].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig


def make_eps_error_figure(curves):
    """The network's held-out eps error per t: MSE per dimension and scale E|eps_theta|^2 / E<eps_theta, eps>. notebooks/07.

    curves: {label: eps_error records of one checkpoint (t, mse, mse_se, scale, scale_se)}; error bars +-2 SE.
    """
    import matplotlib.pyplot as plt

    fig, (ax_mse, ax_scale) = plt.subplots(1, 2, figsize=(9.5, 3.3))
    for k, (label, records) in enumerate(curves.items()):
        r = sorted(records, key=lambda r: r["t"])
        t = [x["t"] for x in r]
        ax_mse.errorbar(t, [x["mse"] for x in r], yerr=[2 * x["mse_se"] for x in r], fmt="o-", ms=3, capsize=2, color=f"C{k}",
                        label=label)
        ax_scale.errorbar(t, [x["scale"] for x in r], yerr=[2 * x["scale_se"] for x in r], fmt="o-", ms=3, capsize=2,
                          color=f"C{k}", label=label)
    ax_mse.set_yscale("log")
    ax_mse.set_ylabel("E|eps_theta - eps|^2 / D")
    ax_scale.axhline(1.0, color="k", lw=0.8, ls="--", label="optimal predictor (any network time)")
    ax_scale.set_ylabel("scale  E|eps_theta|^2 / E<eps_theta, eps>")
    for ax in (ax_mse, ax_scale):
        ax.set_xscale("log")
        ax.set_xlabel("t")
        ax.legend(fontsize=7)
    ax_mse.set_title("noise-prediction error on held-out x_t", fontsize=9)
    ax_scale.set_title("calibration: 1 for E[eps | x_t]", fontsize=9)
    fig.tight_layout()
    return fig


def make_error_sensitivity_figure(deltas, w2, title):
    """W2 of exact-Gaussian samples against the size delta of an error in eps*, one line per sampler. notebooks/07.

    w2: {sampler label: [W2 at each delta]}; delta = 0 is the exact predictor.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for k, (label, values) in enumerate(w2.items()):
        ax.plot(deltas, values, "o-", ms=3, color=f"C{k}", label=label)
    ax.set_xlabel("delta: per-direction error of eps*, s_i = 1 + delta z_i")
    ax.set_ylabel("W2(samples, data)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
