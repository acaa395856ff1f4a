"""Figures of the reproduction: our Table 1 and Table 2 next to the paper's, the spacing study. notebooks/07."""

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
