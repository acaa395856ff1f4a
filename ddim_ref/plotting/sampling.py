"""Figures of sampling, acceleration, the ODE view and stored FIDs. notebooks/04-05."""

import numpy as np
import torch

from .images import image_grid, make_bank_grid_figure


def make_tau_spacing_figure(S=10, spacing="uniform", T=1000, alpha_bar=None):
    """Sub-sequences tau of schedules.timesteps for the four spacings, and alpha_t at the chosen tau (section 4.2). notebooks/04."""
    import matplotlib.pyplot as plt

    from .. import schedules

    if alpha_bar is None:
        alpha_bar = schedules.alpha_bars(schedules.linear_betas(T))
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [1.25, 1]})
    labels = []
    for row, name in enumerate(schedules.SPACINGS):
        tau = schedules.timesteps(T, S, name).numpy()
        chosen = name == spacing
        ax0.scatter(tau, np.full(len(tau), row), marker="|", s=140 if chosen else 70, lw=2.0 if chosen else 1.0,
                    color="C3" if chosen else "0.45")
        labels.append(f"{name}\n{len(tau)} steps, " + r"$\tau_S$" + f"={int(tau[-1])}")
    ax0.axvline(T, color="0.3", ls=":", lw=1)
    ax0.set_yticks(range(len(labels)), labels, fontsize=7)
    ax0.set_ylim(len(labels) - 0.5, -0.5)
    ax0.set_xlim(-0.02 * T, 1.02 * T)
    ax0.set_xlabel("t  (dotted: t = T)")
    ax0.set_title(f"sub-sequence tau for S = {S}, T = {T}")
    tau = schedules.timesteps(T, S, spacing)
    ab = alpha_bar.detach().cpu().double()
    ax1.plot(np.arange(len(ab)), ab.numpy(), color="0.6", lw=1, label=r"$\alpha_t$ (all t)")
    ax1.plot(tau.numpy(), ab[tau].numpy(), "o", ms=3, color="C3", label=f"visited by {spacing}")
    ax1.plot([T], [float(ab[T])], "k*", ms=6, label=rf"$\alpha_T$ = {float(ab[T]):.1e}")
    ax1.set_yscale("log")
    ax1.set_xlabel("t")
    ax1.set_title(r"$\alpha_t$ at the visited steps")
    ax1.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def make_error_vs_steps_figure(S_values, errors, ylabel="error", title=None, reference_slope=-1.0):
    """Log-log plot of errors (dict label -> values per S) against the number of steps S, with a reference slope. notebooks/04, 05."""
    import matplotlib.pyplot as plt

    S = np.asarray(S_values, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for k, (label, values) in enumerate(errors.items()):
        ax.plot(S, np.asarray(values, dtype=float), "o-", ms=3, color=f"C{k}", label=label)
    if reference_slope is not None and errors:
        first = np.asarray(next(iter(errors.values())), dtype=float)
        mid = len(S) // 2
        ref = first[mid] * 1.6 * (S / S[mid]) ** reference_slope
        ax.plot(S, ref, "k--", lw=0.8, label=f"slope {reference_slope:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of sampling steps S")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def make_variance_ratio_figure(S_values, ratios, eigenvalues):
    """Output variance / data variance per eigen-direction of Gaussian data against S, per sampler (eqs. 12, 16). notebooks/04."""
    import matplotlib.pyplot as plt

    lam = [float(v) for v in eigenvalues]
    fig, axes = plt.subplots(1, len(lam), figsize=(4.5 * len(lam), 3.2), squeeze=False)
    for d, ax in enumerate(axes[0]):
        for k, (label, values) in enumerate(ratios.items()):
            ax.plot(S_values, np.asarray(values, dtype=float)[:, d], "o-", ms=3, color=f"C{k}", label=label)
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("number of sampling steps S")
        ax.set_ylabel("output variance / data variance")
        ax.set_title(f"eigen-direction with data variance {lam[d]:g}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def make_sample_bank_figure(bank, S, variant, nrow=8):
    """One precomputed grid of MNIST samples bank[(S, variant)] (images (n, 1, 28, 28) in [-1, 1]). notebooks/04."""
    return make_bank_grid_figure(bank[(S, variant)], f"S = {S}, {variant}", nrow)


def make_sample_bank_overview_figure(bank, n_show=6):
    """All precomputed settings of a sample bank: one row of n_show images per (S, variant), S down, variant across. notebooks/04."""
    import matplotlib.pyplot as plt

    S_values = sorted({S for S, _ in bank})
    variants = list(dict.fromkeys(v for _, v in bank))
    fig, axes = plt.subplots(len(S_values), len(variants), figsize=(2.3 * len(variants), 0.55 * len(S_values) + 0.5),
                             squeeze=False)
    for i, S in enumerate(S_values):
        for j, v in enumerate(variants):
            ax = axes[i][j]
            ax.imshow(image_grid(bank[(S, v)][:n_show], nrow=n_show), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if i == 0:
                ax.set_title(v, fontsize=9)
            if j == 0:
                ax.set_ylabel(f"S = {S}", fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig


def make_ode_flow_figure(gaussian, S=10, spacing="uniform", n_paths=8, seed=0):
    """DDIM (eta = 0) as Euler steps in sigma of the ODE (14) on 2-D Gaussian data vs its exact flow. notebooks/05.

    Left: exact ODE end points and DDIM end points from the same x_T ~ N(0, I), with the data's 2-sd ellipse.
    Right: the standardised coordinate y / sqrt(lambda + sigma^2) along the smallest-variance eigen-direction
    against sigma (x-bar = x / sqrt(alpha), y = u^T (x-bar - m)): the exact flow keeps it constant.
    """
    import matplotlib.pyplot as plt

    from .. import samplers, schedules

    ab = gaussian.alpha_bar
    T = len(ab) - 1
    lam, U = torch.linalg.eigh(gaussian.cov)  # ascending eigenvalues
    m = gaussian.mean
    tau = schedules.timesteps(T, S, spacing)
    x_T = torch.randn(n_paths, gaussian.dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x0, xs, _ = samplers.sample_trajectory(gaussian.eps_model, x_T, ab, tau)  # xs: (len(tau)+1, n, D)
    ts = tau.flip(0).tolist() + [0]
    a = ab[ts].double()  # (len(tau)+1,)
    sig = ((1 - a) / a).sqrt()
    y = (xs / a.sqrt()[:, None, None] - m) @ U  # (steps, n, D) eigen-coordinates of x-bar - m
    z = y / (lam + sig[:, None, None] ** 2).sqrt()  # standardised: constant along the exact flow
    z0_exact = z[0]  # (n, D)
    x0_exact = m + (z0_exact * lam.sqrt()) @ U.T  # exact flow end point from x_{tau_S}

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3.4))
    angle = np.linspace(0, 2 * np.pi, 200)
    ell = m.numpy()[:, None] + U.numpy() @ (2 * np.sqrt(lam.numpy())[:, None] * np.stack([np.cos(angle), np.sin(angle)]))
    ax0.plot(ell[0], ell[1], color="0.6", lw=1, label="data, 2 sd")
    for i in range(n_paths):
        ax0.plot([x0_exact[i, 0], x0[i, 0]], [x0_exact[i, 1], x0[i, 1]], color="0.7", lw=0.8)
    ax0.plot(x0_exact[:, 0], x0_exact[:, 1], "o", ms=4, mfc="none", color="C2", label="exact ODE solution")
    ax0.plot(x0[:, 0], x0[:, 1], "x", ms=4, color="C3", label=f"DDIM, S = {S}")
    ax0.set_aspect("equal", adjustable="datalim")
    ax0.set_title(r"end points $x_0$ from the same $x_T$")
    ax0.legend(fontsize=7)
    d = 0  # smallest-variance direction
    for i in range(n_paths):
        ax1.plot(sig.numpy(), z[:, i, d].numpy(), "o-", ms=2.5, lw=0.8, color=f"C{i % 10}")
        ax1.axhline(float(z0_exact[i, d]), color=f"C{i % 10}", ls=":", lw=0.8)
    ax1.set_xscale("symlog", linthresh=0.01)
    ax1.set_xlim(1.5 * float(sig.max()), 0.0)  # decreasing sigma to the right: the direction of sampling
    ax1.set_xlabel(r"$\sigma = \sqrt{(1-\alpha_t)/\alpha_t}$ (sampling runs right to left)")
    ax1.set_ylabel(r"$y / \sqrt{\lambda + \sigma^2}$")
    ax1.set_title(rf"eigen-direction $\lambda$ = {float(lam[d]):.3g}: Euler steps (dotted: exact)", fontsize=8)
    fig.tight_layout()
    return fig


def make_stored_fid_figure(records, title="course FID against S"):
    """Course FID against S from stored `python -m ddim_ref evaluate` records: a line per sampler and clipping, real images dashed. notebooks/04."""
    import matplotlib.pyplot as plt

    groups, real = {}, set()
    for r in records:
        if r.get("real"):
            real.add((int(r["n"]), float(r["fid"])))
            continue
        name = ("sigma-hat" if r.get("sigma_hat") else f"eta = {float(r['eta']):g}") + (", x0 clipped" if r.get("clip_x0") else "")
        groups.setdefault((name, r.get("spacing", "uniform"), int(r["n"])), []).append((int(r["S"]), float(r["fid"])))
    settings = {key[1:] for key in groups}  # (spacing, n) pairs
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for k, (key, pts) in enumerate(sorted(groups.items())):
        pts.sort()
        label = key[0] + (f" ({key[1]}, n={key[2]})" if len(settings) > 1 else "")
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3, color=f"C{k}", label=label)
    for n, value in sorted(real):
        ax.axhline(value, color="k", ls="--", lw=0.8, label=f"real images (n={n})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    S_values = sorted({p[0] for pts in groups.values() for p in pts})
    if S_values:
        ax.set_xticks(S_values, [str(S) for S in S_values])
        ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set_xlabel("number of sampling steps S")
    ax.set_ylabel("course FID (lower is better)")
    if len(settings) == 1:
        spacing, n = next(iter(settings))
        title = f"{title} ({spacing} spacing, n = {n})"
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def make_inversion_errors_figure(S_values, latent_errors, reconstruction_errors, title=None):
    """Latent error and reconstruction error of each encoder (eq. 14 run forwards) against S, log-log. notebooks/05.

    latent_errors, reconstruction_errors: dicts encoder name -> one value per S (the same names in both).
    A value <= 0 (an exact result) is not drawn on the log axes.
    """
    import matplotlib.pyplot as plt

    S = np.asarray(S_values, dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.3))
    panels = ((latent_errors, "latent error", r"RMS distance to the exact flow's $x_{\tau_S}$"),
              (reconstruction_errors, "reconstruction error", r"RMS $|\mathrm{decode}(\mathrm{encode}(x_0)) - x_0|$"))
    for ax, (errors, name, ylabel) in zip(axes, panels):
        for k, (label, values) in enumerate(errors.items()):
            v = np.asarray(values, dtype=float)
            ok = v > 0
            if ok.any():
                ax.plot(S[ok], v[ok], "o-", ms=3, color=f"C{k}", label=label)
        ax.plot(S, S[0] / S * max(float(np.max(np.asarray(v, dtype=float))) for v in errors.values()), "k--", lw=0.8,
                label="slope -1")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("number of steps S (encoding and decoding)")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
