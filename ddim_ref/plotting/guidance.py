"""Figures of classifier-free guidance and editing: exact mixtures, stored MNIST cells, inversion and edits. notebooks/09."""

import numpy as np
import torch


def make_guided_mixture_figure(mixture, y, samples, n_grid=151, max_points=600):
    """Guided samples (dict w -> (n, 2)) over the contours of the sharpened target p_w of class y, a panel per w. notebooks/09.

    The contours are those of p_w(x) = p(x | y)^(1 + w) p(x)^(-w) / Z (guidance.sharpened_grid); crosses mark the
    means of the other classes' components, circles those of class y.
    """
    import matplotlib.pyplot as plt

    from .. import guidance

    ws = list(samples)
    fig, axes = plt.subplots(1, len(ws), figsize=(2.7 * len(ws) + 0.4, 2.9), squeeze=False, sharex=True, sharey=True)
    mine = mixture.labels == y  # (K,)
    for ax, w in zip(axes[0], ws):
        points, probs = guidance.sharpened_grid(mixture, y, w, n=n_grid)
        X = points[:, 0].reshape(n_grid, n_grid).numpy()
        Y = points[:, 1].reshape(n_grid, n_grid).numpy()
        Z = probs.reshape(n_grid, n_grid).numpy()
        ax.contour(X, Y, Z, levels=np.quantile(Z[Z > Z.max() * 1e-3], [0.5, 0.8, 0.95]), colors="k", linewidths=0.7)
        x = torch.as_tensor(samples[w]).detach().cpu().double()[:max_points].numpy()
        ax.scatter(x[:, 0], x[:, 1], s=3, alpha=0.5, color="C0")
        m = mixture.means.numpy()
        ax.scatter(m[~mine.numpy(), 0], m[~mine.numpy(), 1], marker="x", s=40, color="C3", label="other classes")
        ax.scatter(m[mine.numpy(), 0], m[mine.numpy(), 1], marker="o", s=40, facecolors="none", edgecolors="k",
                   label=f"class {y}")
        ax.set_title(f"w = {w:g}", fontsize=9)
        ax.set_aspect("equal")
    axes[0, 0].legend(fontsize=6, loc="lower left")
    fig.suptitle(f"guided samples (dots) and the sharpened target p_w of class {y} (contours)", fontsize=9)
    fig.tight_layout()
    return fig


def make_target_gap_figure(S_values, curves, floor=None, ylabel=r"$W_2$ to $p_w$", title=None):
    """Distance of samples to the sharpened target against S (dict label -> values per S), with the Monte Carlo floor. notebooks/09."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4))
    styles = ["o-", "s-", "o--", "s--", "^-", "v-"]
    for k, (label, values) in enumerate(curves.items()):
        ax.plot(S_values, np.asarray(values, dtype=float), styles[k % len(styles)], ms=3, color=f"C{k}", label=label)
    if floor is not None:
        ax.axhline(floor, color="k", ls=":", lw=1, label="two samples of $p_w$ (Monte Carlo floor)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of sampling steps S")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def make_guidance_tradeoff_figure(records):
    """Stored guidance cells: class accuracy and per-class FID (+- SE) against w, and FID against spread, per label. notebooks/09.

    records: dicts with "label", "w", "accuracy", "fid", "fid_se", "spread" (reproduce.guidance_cell). The third
    panel is the quality/diversity trade-off: each label's curve runs through its w values (the largest w is annotated).
    """
    import matplotlib.pyplot as plt

    labels = sorted({r["label"] for r in records})
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.2))
    for k, y in enumerate(labels):
        rs = sorted((r for r in records if r["label"] == y), key=lambda r: r["w"])
        w = [r["w"] for r in rs]
        color = f"C{k % 10}"
        axes[0].plot(w, [r["accuracy"] for r in rs], "o-", ms=3, color=color, label=f"label {y}")
        axes[1].errorbar(w, [r["fid"] for r in rs], yerr=[r["fid_se"] for r in rs], fmt="o-", ms=3, capsize=2, color=color)
        axes[2].plot([r["spread"] for r in rs], [r["fid"] for r in rs], "o-", ms=3, color=color)
        axes[2].annotate(f"w={w[0]:g}", (rs[0]["spread"], rs[0]["fid"]), fontsize=6, color=color)
        axes[2].annotate(f"w={w[-1]:g}", (rs[-1]["spread"], rs[-1]["fid"]), fontsize=6, color=color)
    axes[0].set_xlabel("guidance weight w")
    axes[0].set_ylabel("class accuracy (course classifier)")
    axes[1].set_xlabel("guidance weight w")
    axes[1].set_ylabel("per-class course FID (± 1 SE)")
    axes[2].set_xlabel("spread (feature variance / the class's test images')")
    axes[2].set_ylabel("per-class course FID")
    axes[0].legend(fontsize=6, ncol=2)
    axes[2].set_title("quality against diversity", fontsize=9)
    fig.tight_layout()
    return fig


def make_guided_samples_figure(model, alpha_bar, label, w, S=20, eta=0.0, n=8, seed=0, spacing="uniform"):
    """n classifier-free guided MNIST samples of one label from x_T of `seed` (samplers.sample_images). notebooks/09."""
    from .. import guidance, samplers
    from .images import make_image_grid_figure

    c = model.config
    guided = guidance.classifier_free(model, int(label), float(w))
    x0 = samplers.sample_images(guided, alpha_bar, n, int(S), float(eta), spacing, seed, progress=False,
                                shape=(c.in_channels, c.image_size, c.image_size))
    return make_image_grid_figure(x0, nrow=n, title=f"label {label}, w = {w:g}, S = {S}, eta = {eta:g}", scale=0.8)


def make_step_gaps_figure(tau, gaps, title=None):
    """Per-step inversion gaps against the step's end t (dict label -> (S,) values, editing.inversion_step_gaps). notebooks/09."""
    import matplotlib.pyplot as plt

    t = torch.as_tensor(tau).cpu().numpy()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for k, (label, values) in enumerate(gaps.items()):
        ax.plot(t, np.asarray(values, dtype=float), "o-", ms=3, color=f"C{k}", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("t at the end of the encoder's step")
    ax.set_ylabel("gap |decode(encode(x_s)) - x_s|")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def make_edit_tradeoff_figure(curves, xlabel="distance to the input (per-pixel MSE, [0, 1] scale)",
                              ylabel="classifier p(target label)", title=None):
    """Faithfulness against success for the target label: dict method -> {"x", "y", "text"}, one curve each. notebooks/09.

    "x", "y", "text" are lists (one entry per setting of the method's knob); optional "xerr", "yerr" draw error bars.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for k, (name, c) in enumerate(curves.items()):
        ax.errorbar(c["x"], c["y"], xerr=c.get("xerr"), yerr=c.get("yerr"), fmt="o-", ms=4, capsize=2, color=f"C{k}",
                    label=name)
        for x, y, text in zip(c["x"], c["y"], c.get("text", [])):
            ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, -9), fontsize=6, color=f"C{k}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.03, 1.05)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
