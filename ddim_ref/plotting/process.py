"""Figures of the forward process, the non-Markovian family and the objectives. notebooks/00-03."""

import math

import numpy as np
import torch

from .images import image_grid


def _schedule_alpha_bar(schedule, T):
    """alpha_bar (T+1,) of the named beta schedule ("linear" 1e-4..0.02 or "cosine")."""
    from .. import schedules as sch

    if schedule == "linear":
        return sch.alpha_bars(sch.linear_betas(T))
    if schedule == "cosine":
        return sch.alpha_bars(sch.cosine_betas(T))
    raise ValueError(f"unknown schedule {schedule!r}; allowed: linear, cosine")


def make_schedule_figure(T=1000, names=("linear", "cosine")):
    """beta_t, the paper's alpha_t of q(x_t | x_0) (eq. 4) and log10 SNR(t) for beta schedules. notebooks/01."""
    import matplotlib.pyplot as plt

    from .. import schedules as sch

    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    t = np.arange(1, T + 1)
    for name in names:
        alpha_bar = _schedule_alpha_bar(name, T)
        betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
        axes[0].plot(t, betas.numpy(), label=name)
        axes[1].plot(t, alpha_bar[1:].numpy(), label=name)
        axes[2].plot(t, torch.log10(sch.snr(alpha_bar[1:])).numpy(), label=name)
    axes[0].set(title=r"$\beta_t$", xlabel="t", yscale="log")
    axes[1].set(title=r"$\alpha_t$ (DDPM's $\bar\alpha_t$)", xlabel="t", ylim=(-0.02, 1.02))
    axes[2].axhline(0.0, color="k", lw=0.6)
    axes[2].set(title=r"$\log_{10}\,\mathrm{SNR}(t) = \log_{10} \alpha_t / (1 - \alpha_t)$", xlabel="t")
    axes[0].legend()
    fig.tight_layout()
    return fig


def make_timesteps_figure(T=1000, S=10, spacing="uniform", schedule="linear"):
    """The sub-sequence tau = schedules.timesteps(T, S, spacing) on the alpha_t curve, and its step sizes. notebooks/00."""
    import matplotlib.pyplot as plt

    from .. import schedules as sch

    alpha_bar = _schedule_alpha_bar(schedule, T)
    tau = sch.timesteps(T, S, spacing)  # (S',) increasing in 1..T
    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    axes[0].plot(np.arange(T + 1), alpha_bar.numpy(), color="0.6", lw=1, label=r"$\alpha_t$")
    axes[0].plot(tau.numpy(), alpha_bar[tau].numpy(), "o", ms=3, color="C1", label=r"$\tau_i$")
    axes[0].plot([0], [1.0], "s", ms=4, color="C2", label="t = 0 (data)")
    shown = ", ".join(str(v) for v in tau[:4].tolist()) + (", ..., " + str(int(tau[-1])) if len(tau) > 4 else "")
    axes[0].set(title=f"{spacing}: tau = {shown}", xlabel="t", ylabel=r"$\alpha_t$", xlim=(-T * 0.02, T * 1.02))
    axes[0].legend(loc="upper right")
    steps = torch.diff(tau, prepend=torch.zeros(1, dtype=tau.dtype))  # (S',) tau_i - tau_{i-1}, tau_0 = 0
    axes[1].bar(np.arange(1, len(tau) + 1), steps.numpy(), width=0.8, color="C1")
    axes[1].set(title=f"{len(tau)} network calls instead of T = {T}", xlabel="i",
                ylabel=r"jump $\tau_i - \tau_{i-1}$ ($\tau_0 = 0$)")
    fig.tight_layout()
    return fig


def make_noising_grid_figure(x0, ts, schedule="linear", T=1000, seed=0):
    """Images x_0 (rows) noised to x_t ~ q(x_t | x_0), eq. (4), at the times ts (columns), one eps per row. notebooks/01."""
    import matplotlib.pyplot as plt

    from ..forward import q_sample

    alpha_bar = _schedule_alpha_bar(schedule, T)
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed), dtype=x0.dtype)  # (N, C, H, W)
    cols = [x0 if t == 0 else q_sample(x0, float(alpha_bar[t]), eps) for t in ts]  # each (N, C, H, W)
    tiles = torch.stack(cols, dim=1).reshape(-1, *x0.shape[1:])  # (N * len(ts), C, H, W), row-major
    grid = image_grid(tiles, nrow=len(ts))
    fig, ax = plt.subplots(figsize=(0.75 * len(ts) + 0.3, 0.75 * x0.shape[0] + 0.5))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    w = x0.shape[-1] + 1
    ax.set_xticks([1 + w * k + x0.shape[-1] / 2 for k in range(len(ts))], [f"t={t}" for t in ts])
    ax.set_yticks([])
    ax.tick_params(length=0)
    ax.grid(False)
    ax.set_title(f"{schedule} schedule, T = {T} (pixels clipped to [-1, 1] for display)")
    fig.tight_layout()
    return fig


def make_noising_figure(x0, t=250, schedule="linear", T=1000, seed=0):
    """x_t ~ q(x_t | x_0) (eq. 4) for a few images at one t, the coefficients sqrt(alpha_t), sqrt(1 - alpha_t), and the pixel histogram. notebooks/01."""
    import matplotlib.pyplot as plt

    from .. import schedules as sch
    from ..forward import q_sample

    alpha_bar = _schedule_alpha_bar(schedule, T)
    t = int(min(max(t, 0), T))
    a = float(alpha_bar[t])
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed), dtype=x0.dtype)
    x_t = q_sample(x0, a, eps)  # (N, C, H, W)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    axes[0].imshow(image_grid(x_t, nrow=min(4, x0.shape[0])), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[0].set_axis_off()
    snr = "inf" if t == 0 else f"{float(sch.snr(alpha_bar[t])):.3g}"
    axes[0].set_title(f"$x_t$ at t = {t}\n" + rf"$\alpha_t$ = {a:.3g}, SNR = {snr}")
    ts = np.arange(T + 1)
    axes[1].plot(ts, alpha_bar.sqrt().numpy(), label=r"$\sqrt{\alpha_t}$ (signal)")
    axes[1].plot(ts, (1 - alpha_bar).sqrt().numpy(), label=r"$\sqrt{1-\alpha_t}$ (noise std)")
    axes[1].axvline(t, color="k", lw=0.8)
    axes[1].set(xlabel="t", title=f"{schedule} schedule")
    axes[1].legend(loc="center right")
    bins = np.linspace(-4, 4, 61)
    axes[2].hist(x_t.flatten().numpy(), bins=bins, density=True, color="C0", alpha=0.7, label=r"pixels of $x_t$")
    axes[2].plot(bins, np.exp(-bins**2 / 2) / math.sqrt(2 * math.pi), "k", lw=1, label="N(0, 1)")
    axes[2].set(xlabel="pixel value", title="histogram of x_t", ylim=(0, 1.0))
    axes[2].legend(loc="upper right")
    fig.tight_layout()
    return fig


def make_moments_comparison_figure(t, mc_mean, mc_var, exact_mean, exact_var, title=None):
    """Monte Carlo mean and variance of x_t (dots) against closed forms (lines), e.g. eq. (4). notebooks/01."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    for ax, mc, exact, name in ((axes[0], mc_mean, exact_mean, "mean"), (axes[1], mc_var, exact_var, "variance")):
        ax.plot(np.asarray(t), np.asarray(exact), color="k", lw=1, label="closed form")
        ax.plot(np.asarray(t), np.asarray(mc), "o", ms=3, color="C1", label="Monte Carlo")
        ax.set(xlabel="t", title=f"{name} of $x_t$")
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def make_graphical_models_figure(panels=("ddpm", "ddim", "ddim_forward"), T=3):
    """Graphical models of DDPM's Markovian and DDIM's non-Markovian inference processes (Figure 1, eqs. 3, 6, 8). notebooks/02."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, FancyArrowPatch

    titles = {"ddpm": "DDPM: Markovian $q(x_t \\mid x_{t-1})$, eq. (3)",
              "ddim": "DDIM: $q_\\sigma$ as defined, eq. (6)",
              "ddim_forward": "DDIM: forward view of $q_\\sigma$, eq. (8)"}
    for p in panels:
        if p not in titles:
            raise ValueError(f"unknown panel {p!r}; allowed: {', '.join(titles)}")
    fig, axes = plt.subplots(1, len(panels), figsize=(3.1 * len(panels), 0.9 + 0.35 * T), squeeze=False)
    r = 0.24
    xpos = {t: float(T - t) for t in range(T + 1)}  # x_T on the left, x_0 on the right, as in the paper

    def arrow(ax, nodes, a, b, rad, style, color):
        ax.add_patch(FancyArrowPatch((xpos[a], 0), (xpos[b], 0), patchA=nodes[a], patchB=nodes[b], arrowstyle="-|>",
                                     mutation_scale=11, connectionstyle=f"arc3,rad={rad}", linestyle=style, color=color, lw=1.2))

    for ax, p in zip(axes[0], panels):
        nodes = {}
        for t in range(T + 1):
            nodes[t] = Circle((xpos[t], 0), r, facecolor="#e8eef7" if t else "#cfe3cf", edgecolor="black", lw=1.2, zorder=3)
            ax.add_patch(nodes[t])
            ax.text(xpos[t], 0, f"$x_{t}$", ha="center", va="center", fontsize=11, zorder=4)
        for t in range(T, 0, -1):  # generative process p_theta(x_{t-1} | x_t): straight, solid, above
            arrow(ax, nodes, t, t - 1, -0.35, "-", "black")
        inference = "tab:red"
        # arc3's rad bends an arrow to its right: leftward arrows need rad < 0, rightward rad > 0, to pass below
        if p == "ddpm":  # q(x_t | x_{t-1})
            for t in range(1, T + 1):
                arrow(ax, nodes, t - 1, t, -0.35, "--", inference)
        elif p == "ddim":  # q_sigma(x_T | x_0) and q_sigma(x_{t-1} | x_t, x_0)
            for t in range(T, 1, -1):
                arrow(ax, nodes, t, t - 1, 0.35, "--", inference)
            for t in range(1, T + 1):
                arrow(ax, nodes, 0, t, -0.35 - 0.1 * (t - 1), "--", inference)
        else:  # q_sigma(x_t | x_{t-1}, x_0) and q_sigma(x_1 | x_0)
            for t in range(1, T + 1):
                arrow(ax, nodes, t - 1, t, -0.35, "--", inference)
            for t in range(2, T + 1):
                arrow(ax, nodes, 0, t, -0.45 - 0.1 * (t - 2), "--", inference)
        ax.set_title(titles[p], fontsize=9)
        ax.set_xlim(-0.45, T + 0.45)
        ax.set_ylim(-0.35 - 0.3 * T, 0.6)
        ax.set_aspect("equal")
        ax.set_axis_off()
    axes[0][0].plot([], [], "-", color="black", label="generative $p_\\theta(x_{t-1} \\mid x_t)$")
    axes[0][0].plot([], [], "--", color="tab:red", label="inference $q$")
    fig.legend(loc="lower center", ncol=2, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def make_eta_trajectories_figure(etas=(0.0, 0.5, 1.0), n_paths=10, S=100, seed=0, points=(-1.5, 0.25, 1.0)):
    """1-D generative trajectories x_t of eq. (12) with the exact eps* of a few points, one panel per eta (eq. 16). notebooks/02."""
    import matplotlib.pyplot as plt

    from .. import analytic, samplers, schedules

    T = 1000
    alpha_bar = schedules.alpha_bars(schedules.linear_betas(T))
    pts = torch.as_tensor(points, dtype=torch.float64)  # (N,)
    data = analytic.FiniteData(pts[:, None], alpha_bar)
    tau = schedules.timesteps(T, S, "linspace")
    times = np.array(tau.flip(0).tolist() + [0])  # tau_S, ..., tau_1, 0
    x_T = torch.randn(n_paths, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    ab = alpha_bar[times].numpy()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(1, len(etas), figsize=(2.9 * len(etas) + 0.6, 3.0), sharey=True, squeeze=False)
    for ax, eta in zip(axes[0], etas):
        g = torch.Generator().manual_seed(seed + 1)  # the same noise draws for every eta > 0
        x0, xs, _ = samplers.sample_trajectory(data.eps_model, x_T, alpha_bar, tau, eta=float(eta), generator=g)
        paths = xs[:, :, 0].numpy()  # (S+1, n_paths)
        nearest = (x0[:, 0, None] - pts[None]).abs().argmin(1).tolist()
        for k, p in enumerate(pts.tolist()):  # the marginal q_t around each point: sqrt(a) x_i +- 2 sqrt(1 - a)
            ax.fill_between(times, np.sqrt(ab) * p - 2 * np.sqrt(1 - ab), np.sqrt(ab) * p + 2 * np.sqrt(1 - ab),
                            color=colors[k % len(colors)], alpha=0.07, lw=0)
            ax.plot([0], [p], marker="<", color=colors[k % len(colors)], ms=7, clip_on=False, zorder=4)
        for j in range(n_paths):
            ax.plot(times, paths[:, j], color=colors[nearest[j] % len(colors)], lw=0.9, alpha=0.85)
        ax.set_xlim(T, 0)
        ax.set_xlabel("t (generation runs left to right)")
        ax.set_title(f"$\\eta$ = {float(eta):.2f}" + ("  (DDIM, deterministic)" if float(eta) == 0 else ""), fontsize=9)
    axes[0][0].set_ylabel("$x_t$")
    axes[0][0].set_ylim(-3.2, 3.2)
    fig.tight_layout()
    return fig


def make_marginal_variance_ratio_figure(curves, title=None):
    """Var(x_t | x_0) / (1 - alpha_t) along a sampling path (Lemma 1 says 1; sigma-hat inflates it). notebooks/02.

    `curves`: dict label -> (ts, ratios), sequences of the visited t >= 1 and the variance ratios there.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for label, (ts, ratios) in curves.items():
        ax.plot(np.asarray(ts), np.asarray(ratios), marker="." if len(ts) <= 30 else None, lw=1.2, label=label)
    ax.axhline(1.0, color="black", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel("Var$(x_t \\mid x_0)$ / $(1 - \\alpha_t)$")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def make_theorem1_figure(J, L, C, title=None):
    """J_sigma (eq. 11) and L_gamma (eq. 5) of several eps models and their difference C (Theorem 1). notebooks/03.

    `J`, `L`: dicts model name -> per-sample values (B,) computed with common random numbers; `C`: (B,).
    """
    import matplotlib.pyplot as plt

    names = list(J)
    C = np.asarray(C, dtype=float)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3.3))
    x = np.arange(len(names))
    jm = [float(np.mean(np.asarray(J[n]))) for n in names]
    lm = [float(np.mean(np.asarray(L[n]))) for n in names]
    ax0.bar(x - 0.2, jm, 0.4, label="$J_\\sigma$ (eq. 11)")
    ax0.bar(x + 0.2, lm, 0.4, label="$L_\\gamma$ (eq. 5)")
    for i in range(len(names)):
        ax0.annotate(f"J - L = {jm[i] - lm[i]:.3f}", (x[i], max(jm[i], lm[i], 0)), ha="center", va="bottom", fontsize=7,
                     xytext=(0, 3), textcoords="offset points")
    ax0.axhline(0, color="black", lw=0.6)
    ax0.set_ylim(top=1.15 * max(max(jm), max(lm), 0) + 1e-12)
    ax0.set_xticks(x, names, fontsize=8)
    ax0.set_ylabel("mean over samples (nats)")
    ax0.legend(fontsize=7, loc="upper left")
    markers = "o^sDv"
    rng = np.random.default_rng(0)  # horizontal jitter only
    for i, n in enumerate(names):
        resid = np.asarray(J[n]) - np.asarray(L[n]) - C
        ax1.scatter(i + rng.uniform(-0.2, 0.2, resid.size), resid, s=12, marker=markers[i % len(markers)],
                    facecolors="none", edgecolors=f"C{i}", lw=0.8)
    ax1.axhline(0, color="black", lw=0.6)
    ax1.set_xticks(x, names, fontsize=8)
    ax1.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    ax1.set_ylabel("$J_\\sigma - L_\\gamma - C$ per sample")
    ax1.set_title("the same constant for every model (round-off)", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def make_theorem1_gamma_figure(alpha_bar, etas=(0.2, 0.5, 1.0), sigma_1=None, normalise=False):
    """The weights gamma_t of Theorem 1 against t for several eta, log scale (eqs. 5, 11, 16). notebooks/03.

    sigma_1: std of the decoder p_theta(x_0 | x_1) (eq. 16 gives 0); default sqrt(1 - alpha_1) = sqrt(beta_1).
    normalise: divide each curve by its mean, to compare shapes with L_simple's flat gamma_t = 1.
    """
    import matplotlib.pyplot as plt

    from .. import objectives

    if sigma_1 is None:
        sigma_1 = float(1 - alpha_bar[1]) ** 0.5
    T = alpha_bar.numel() - 1
    t = np.arange(1, T + 1)
    fig, ax = plt.subplots(figsize=(6, 3.3))
    for eta in etas:
        sigma = objectives.sigma_schedule(alpha_bar, float(eta), sigma_1=sigma_1)
        gamma = objectives.theorem1_gamma(alpha_bar, sigma)[1:].numpy()
        if normalise:
            gamma = gamma / gamma.mean()
        ax.plot(t, gamma, lw=1.3, label=f"$\\eta$ = {float(eta):.2f}")
    ax.axhline(1.0, color="black", lw=0.9, ls=":", label="$L_{simple}$: $\\gamma_t = 1$")
    ax.set_yscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel("$\\gamma_t$ / mean" if normalise else "$\\gamma_t$")
    ax.set_title(f"Theorem 1 weights, T = {T}, $\\sigma_1$ = {sigma_1:.3g}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def make_loss_perturbation_figure(deltas, excess, se, predicted=None, xlabel="$\\delta$"):
    """Excess L_simple of perturbed models eps* + delta * v over the exact eps*, with 2-standard-error bars. notebooks/03."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.errorbar(np.asarray(deltas), np.asarray(excess), yerr=2 * np.asarray(se), fmt="o", ms=4, capsize=3,
                label="Monte Carlo (paired, $\\pm$2 s.e.)")
    if predicted is not None:
        d = np.linspace(min(deltas), max(deltas), 200)
        ax.plot(d, predicted(d), lw=1, color="black", ls="--", label="prediction")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("$L_{simple}$(perturbed) $-$ $L_{simple}$($\\epsilon^*$)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def make_log_snr_spacing_figure(T=1000, S=10, spacings=("uniform", "quadratic"), schedule="linear"):
    """Per-step change of log alpha_t and of log SNR(t), and where each spacing puts tau on the log SNR curve. notebooks/00."""
    import matplotlib.pyplot as plt

    from .. import schedules as sch

    alpha_bar = _schedule_alpha_bar(schedule, T)
    log_snr = torch.log(sch.snr(alpha_bar))  # (T+1,), [0] = inf
    t = np.arange(2, T + 1)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].plot(t, (alpha_bar[1:-1].log() - alpha_bar[2:].log()).numpy(),
                 label=r"$\log\alpha_{t-1} - \log\alpha_t$ ($\approx\beta_t$)")
    axes[0].plot(t, (log_snr[1:-1] - log_snr[2:]).numpy(), label=r"$\log\mathrm{SNR}(t-1) - \log\mathrm{SNR}(t)$")
    axes[0].set(xlabel="t", yscale="log", title=f"change per step, {schedule} schedule, T = {T}")
    axes[0].legend(fontsize=7)
    ts = np.arange(1, T + 1)
    axes[1].plot(ts, log_snr[1:].numpy(), color="0.6", lw=1)
    for k, spacing in enumerate(spacings):
        tau = sch.timesteps(T, S, spacing)  # (S',)
        jumps = (log_snr[tau[:-1]] - log_snr[tau[1:]]).numpy()  # log SNR drop between consecutive tau
        axes[1].plot(tau.numpy(), log_snr[tau].numpy(), "o" if k == 0 else "x", ms=5, color=f"C{k}",
                     label=f"{spacing}: largest jump {jumps.max():.2f}")
    axes[1].set(xlabel="t", ylabel=r"$\log\mathrm{SNR}(t)$", title=f"$\\tau$ for S = {S} on the log SNR curve")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def make_variance_extremes_figure(panels, title=None):
    """Sampler variance of x_t over the true Var q(x_t) along tau, one panel per data set (Ho et al.'s two extremes). notebooks/02.

    `panels`: dict panel title -> dict label -> (ts, ratios), the visited t >= 0 and the variance ratios there.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.3), squeeze=False, sharey=True)
    for ax, (name, curves) in zip(axes[0], panels.items()):
        for k, (label, (ts, ratios)) in enumerate(curves.items()):
            ax.plot(np.asarray(ts), np.asarray(ratios), marker="ox+sd"[k % 5], ms=4, lw=1.1, label=label)
        ax.axhline(1.0, color="black", lw=0.8, ls=":")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(0, 1.3 * max(max(np.asarray(ts)) for ts, _ in curves.values()))  # t >= 0 only
        ax.set_yscale("log")
        ax.set_xlabel("t (visited, log scale)")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("sampler Var$(x_t)$ / Var $q(x_t)$")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def make_plugin_marginals_figure(data, alpha_bar, t_show, states, freqs, n, x_lim=(-3.0, 3.0)):
    """q_t(x) of 1-D finite data as a heat map, sampler histograms at t_show against q_{t_show}, end-point frequencies against S. notebooks/02.

    `data`: analytic.FiniteData in 1-D; `states`: dict label -> samples (m,) of x_{t_show} from a sampler;
    `freqs`: dict S -> frequencies (N,) of the end points (nearest data point) from n samples each.
    """
    import matplotlib.pyplot as plt

    T = alpha_bar.numel() - 1
    xs = torch.linspace(x_lim[0], x_lim[1], 241, dtype=torch.float64)  # (X,)
    ts = torch.arange(1, T + 1, max(1, T // 200))  # (Tg,)
    logp = data.log_prob(xs.repeat(len(ts))[:, None], ts.repeat_interleave(len(xs))).reshape(len(ts), len(xs))
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
    axes[0].imshow(logp.exp().T.numpy(), origin="lower", aspect="auto", cmap="magma", vmax=float(logp.exp().quantile(0.995)),
                   extent=(float(ts[0]), float(ts[-1]), x_lim[0], x_lim[1]))
    axes[0].axvline(t_show, color="white", lw=0.8, ls="--")
    axes[0].set(xlim=(T, 0), xlabel="t (generation runs left to right)", ylabel="x", title="$q(x_t)$: the data's marginals")
    axes[0].grid(False)
    dens = data.log_prob(xs[:, None], t_show).exp()
    axes[1].plot(xs.numpy(), dens.numpy(), color="black", lw=1.2, label=f"$q(x_{{{t_show}}})$")
    for k, (label, x) in enumerate(states.items()):
        axes[1].hist(np.asarray(x).ravel(), bins=np.linspace(x_lim[0], x_lim[1], 81), density=True, histtype="step", lw=1.1,
                     color=f"C{k}", label=label)
    axes[1].set(xlabel="x", title=f"sampler states at t = {t_show}")
    axes[1].legend(fontsize=7)
    S_vals = sorted(freqs)
    N = data.points.shape[0]
    for i in range(N):
        f = np.array([float(freqs[S][i]) for S in S_vals])
        axes[2].errorbar(S_vals, f, yerr=2 * np.sqrt(f * (1 - f) / n), marker="o", ms=3, capsize=2, lw=1,
                         label=f"$x_0$ = {float(data.points[i].flatten()[0]):g}")
    axes[2].axhline(1 / N, color="black", lw=0.8, ls=":")
    axes[2].set(xscale="log", xlabel="S (steps)", ylabel="frequency ($\\pm$2 s.e.)", title="end points against S")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def make_tweedie_figure(data, t, x_t, x0, x0_hat, bins=30):
    """1-D data: q_t(x) and its score, and E[x_0 | x_t] by Tweedie's formula against binned Monte Carlo pairs (x_t, x_0). notebooks/03.

    `data`: a 1-D analytic class with log_prob; `x_t`, `x0`: paired samples (n,); `x0_hat`: Tweedie's E[x_0 | x_t] at x_t (n,).
    """
    import matplotlib.pyplot as plt

    x_t, x0, x0_hat = (np.asarray(v, dtype=float).ravel() for v in (x_t, x0, x0_hat))
    lo, hi = np.quantile(x_t, [0.002, 0.998])
    grid = torch.linspace(float(lo), float(hi), 400, dtype=torch.float64)[:, None].requires_grad_()
    logp = data.log_prob(grid, t)
    (score,) = torch.autograd.grad(logp.sum(), grid)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.3))
    g = grid.detach().numpy().ravel()
    axes[0].plot(g, logp.detach().exp().numpy(), color="C0", label=f"$q_t(x)$, t = {t}")
    ax2 = axes[0].twinx()
    ax2.plot(g, score.numpy().ravel(), color="C3", lw=1, label=r"$\nabla \log q_t(x)$")
    ax2.axhline(0, color="C3", lw=0.5, ls=":")
    ax2.grid(False)
    axes[0].set(xlabel="$x_t$", title="density and score (autograd of log_prob)")
    axes[0].legend(loc="upper left", fontsize=7)
    ax2.legend(loc="upper right", fontsize=7)
    edges = np.linspace(lo, hi, bins + 1)
    which = np.clip(np.digitize(x_t, edges) - 1, 0, bins - 1)
    centers, means, ses = [], [], []
    for b in range(bins):
        sel = which == b
        if sel.sum() >= 20:
            centers.append(x_t[sel].mean())
            means.append(x0[sel].mean())
            ses.append(x0[sel].std() / np.sqrt(sel.sum()))
    rng = np.random.default_rng(0)
    show = rng.choice(len(x_t), size=min(2000, len(x_t)), replace=False)
    axes[1].scatter(x_t[show], x0[show], s=2, color="0.75", label="pairs $(x_t, x_0)$")
    axes[1].errorbar(centers, means, yerr=2 * np.array(ses), fmt="o", ms=3, capsize=2, color="C1",
                     label="bin means of $x_0$ ($\\pm$2 s.e.)")
    order = np.argsort(x_t)
    axes[1].plot(x_t[order], x0_hat[order], color="black", lw=1.2, label="Tweedie: $E[x_0 \\mid x_t]$")
    axes[1].set(xlabel="$x_t$", ylabel="$x_0$", title="posterior mean")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig
