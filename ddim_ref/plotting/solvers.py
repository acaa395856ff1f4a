"""Figures of ODE solvers and schedule pitfalls: convergence orders, quality per network call, the prev rule, the signal leak. notebooks/08."""

import numpy as np

from .images import make_bank_grid_figure

SOLVER_LABELS = {"ddim": "DDIM (eta = 0)", "ddim_eta1": "DDIM eta = 1", "heun": "Heun", "dpm_solver_2": "DPM-Solver-2",
                 "dpm_solver_pp_2m": "DPM-Solver++(2M)"}
SOLVER_COLORS = {"ddim": "C0", "ddim_eta1": "C3", "heun": "C1", "dpm_solver_2": "C2", "dpm_solver_pp_2m": "C4"}


def _label(name):
    return SOLVER_LABELS.get(name, name)


def _color(name, k):
    return SOLVER_COLORS.get(name, f"C{k}")


def _log_log(ax, xlabel, ylabel):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def make_convergence_figure(S_values, errors, nfe=None, orders=None, ylabel="error", title=None):
    """Global error against S (log-log, with reference slopes -1 and -2) and, if nfe is given, against the NFE. notebooks/08.

    errors: dict solver -> errors per S; nfe: dict solver -> network calls per S; orders: dict solver -> the expected
    order p, whose reference line of slope -p is anchored at that solver's first point.
    """
    import matplotlib.pyplot as plt

    S = np.asarray(S_values, dtype=float)
    fig, axes = plt.subplots(1, 2 if nfe else 1, figsize=(10 if nfe else 5.5, 3.5), squeeze=False)
    ax = axes[0][0]
    drawn = set()
    for k, (name, values) in enumerate(errors.items()):
        v = np.asarray(values, dtype=float)
        ax.plot(S, v, "o-", ms=3, color=_color(name, k), label=_label(name))
        p = (orders or {}).get(name)
        if p is not None and p not in drawn:  # one reference line per order, through the first solver of that order
            ax.plot(S, v[0] * 1.5 * (S / S[0]) ** -p, "k--" if p == 1 else "k:", lw=0.9, label=f"slope -{p}")
            drawn.add(p)
    _log_log(ax, "number of steps S", ylabel)
    ax.set_xticks(S, [str(int(s)) for s in S])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    if nfe:
        ax = axes[0][1]
        for k, (name, values) in enumerate(errors.items()):
            ax.plot(np.asarray(nfe[name], dtype=float), np.asarray(values, dtype=float), "o-", ms=3, color=_color(name, k),
                    label=_label(name))
        _log_log(ax, "network calls (NFE)", ylabel)
        ax.set_title("the same errors against the cost", fontsize=9)
    fig.tight_layout()
    return fig


def make_quality_vs_nfe_figure(curves, ylabel, reference=None, reference_label="reference", band=0.1, ymax=None,
                               title=None):
    """A quality measure against network calls per solver, with +-1 SE bars and a reference band. notebooks/08.

    curves: dict solver -> {"nfe": [...], "value": [...], "se": [...] or None}. reference: a value drawn as a line with
    a shaded band up to (1 + band) times it (e.g. DDIM with S = 1000, "within 10 %"). Points above ymax are drawn at
    ymax as upward triangles with their value written next to them (solvers that blow up at small NFE).
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    all_nfe = sorted({int(n) for c in curves.values() for n in c["nfe"]})
    for k, (name, c) in enumerate(curves.items()):
        x, y = np.asarray(c["nfe"], dtype=float), np.asarray(c["value"], dtype=float)
        se = np.asarray(c["se"], dtype=float) if c.get("se") is not None else None
        off = np.zeros(len(y), dtype=bool) if ymax is None else y > ymax
        color = _color(name, k)
        ax.errorbar(x[~off], y[~off], yerr=None if se is None else se[~off], fmt="o-", ms=3, capsize=2, color=color,
                    label=_label(name))
        if off.any():
            ax.plot(x[off], np.full(off.sum(), ymax), "^", ms=6, color=color)
            for xi, yi in zip(x[off], y[off]):  # one line of text per solver, so that labels at the same NFE do not overlap
                ax.annotate(f"{yi:.2g}", (xi, ymax), textcoords="offset points", xytext=(5, -9 - 8 * k), fontsize=7, color=color)
    if reference is not None:
        ax.axhline(reference, color="k", lw=1, label=reference_label)
        ax.axhspan(reference, reference * (1 + band), color="0.85", zorder=0, label=f"within {band:.0%}")
    _log_log(ax, "network calls (NFE)", ylabel)
    ax.set_xticks(all_nfe, [str(n) if n % 5 == 0 or not any(m % 5 == 0 for m in all_nfe) else "" for n in all_nfe])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    if ymax is not None:
        ax.set_ylim(top=ymax * 1.6)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig


def make_prior_mismatch_figure(S_values, errors, predictions=None, ylabel="|E[x_0] - m|", title=None):
    """Log-log errors (dict label -> values per S) against S, each with its prediction (a number or one per S) dashed. notebooks/08."""
    import matplotlib.pyplot as plt

    S = np.asarray(S_values, dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for k, (label, values) in enumerate(errors.items()):
        ax.plot(S, np.asarray(values, dtype=float), "o-", ms=3, color=f"C{k}", label=label)
        if predictions and label in predictions:  # a number: a horizontal line; a list: one value per S
            pred = np.broadcast_to(np.asarray(predictions[label], dtype=float), S.shape)
            ax.plot(S, pred, color=f"C{k}", ls="--", lw=0.9)
    _log_log(ax, "number of steps S", ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig


def make_prev_rule_figure(T, cases):
    """Where `prev = t - T // S` lands against the actual previous element of tau, one row per (S, spacing). notebooks/08.

    Left: the grid tau (ticks) and, for each step, an arrow from tau_i to tau_i - T // S; red where it stops above
    tau_{i-1} (noise levels skipped: the state is noisier than its next label), blue where it overshoots below
    (levels repeated). Right: the mismatch tau_i - T // S - tau_{i-1} per step, and the total.
    """
    import matplotlib.pyplot as plt

    from .. import schedules

    fig, axes = plt.subplots(len(cases), 2, figsize=(10, 1.25 * len(cases) + 0.9), squeeze=False,
                             gridspec_kw={"width_ratios": [2.2, 1]})
    for (ax, bx), (S, spacing) in zip(axes, cases):
        tau = schedules.timesteps(T, S, spacing).tolist()
        k = T // S
        ts = tau[::-1]
        nxt = ts[1:] + [0]
        lands = [max(t - k, 0) for t in ts]  # the rule lands below 0 on some grids: that is alpha = 1 (t = 0) here
        miss = [land - s for land, s in zip(lands, nxt)]  # > 0: skipped levels, < 0: repeated levels
        ax.scatter(tau, np.zeros(len(tau)), marker="|", s=200, color="k", zorder=3)
        for i, (t, land, s, d) in enumerate(zip(ts, lands, nxt, miss)):
            y = 0.35 if i % 2 == 0 else 0.6
            color = "C3" if d > 0 else ("C0" if d < 0 else "0.5")
            ax.annotate("", xy=(land, y), xytext=(t, y), arrowprops=dict(arrowstyle="->", color=color, lw=1.2))
            if d != 0:
                ax.plot([min(land, s), max(land, s)], [y, y], color=color, lw=5, alpha=0.5, solid_capstyle="butt")
        ax.set_xlim(-0.02 * T, 1.02 * T)
        ax.set_ylim(-0.3, 0.9)
        ax.set_yticks([])
        ax.set_title(f"{spacing}, S = {S}, T // S = {k}: tau = {tau[:3]} ... {tau[-2:]}", fontsize=8, loc="left")
        bx.bar(range(len(miss), 0, -1), miss, color=["C3" if d > 0 else ("C0" if d < 0 else "0.5") for d in miss])
        bx.axhline(0, color="k", lw=0.6)
        bx.set_title(f"skipped levels per step (total {sum(d for d in miss if d > 0)})", fontsize=8)
        bx.set_xlabel("i (the step that starts at tau_i)", fontsize=7)
        bx.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    axes[-1][0].set_xlabel("t   (ticks: tau; arrows: tau_i -> tau_i - T // S; red bars: skipped, blue: repeated)")
    fig.tight_layout()
    return fig


def make_signal_leak_figure(alpha_bars, eigenvalues=None):
    """sqrt(alpha_t) near t = T per schedule and, given data eigenvalues, the signal fraction of x_T per direction. notebooks/08.

    alpha_bars: dict schedule name -> alpha_bar (T+1,). The right panel plots a_T lam / (a_T lam + 1 - a_T), the share
    of Var[x_T] along each principal direction of the data that is signal rather than noise (Lin et al. 2024).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2 if eigenvalues is not None else 1, figsize=(10 if eigenvalues is not None else 5.5, 3.4),
                             squeeze=False)
    ax = axes[0][0]
    for k, (name, ab) in enumerate(alpha_bars.items()):
        ab = ab.detach().cpu().double()
        T = len(ab) - 1
        t = np.arange(1, T + 1)
        root = ab[1:].sqrt().numpy()
        keep = root > 0
        last = float(ab[T]) ** 0.5
        ax.plot(t[keep], root[keep], color=f"C{k}", label=f"{name}: sqrt(alpha_T) = {last:.2g}")
    ax.set_yscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel(r"$\sqrt{\alpha_t}$ (signal coefficient of $x_0$ in $x_t$)")
    ax.set_title("the signal left at t (a zero at t = T is not drawn on a log axis)", fontsize=8)
    ax.legend(fontsize=7, loc="lower left")
    if eigenvalues is not None:
        ax = axes[0][1]
        lam = np.sort(np.asarray([float(v) for v in eigenvalues]))[::-1]
        rank = np.arange(1, len(lam) + 1)
        for k, (name, ab) in enumerate(alpha_bars.items()):
            a_T = float(ab[-1])
            if a_T == 0:
                ax.plot([], [], color=f"C{k}", label=f"{name}: 0 in every direction")
                continue
            ax.plot(rank, a_T * lam / (a_T * lam + 1 - a_T), color=f"C{k}", label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("principal direction of the data (by variance)")
        ax.set_ylabel("signal share of Var[x_T]")
        ax.set_title("what x_T still tells about x_0, direction by direction", fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def make_solver_samples_figure(bank, solver, nfe, nrow=8):
    """One precomputed grid of samples bank[(solver, nfe)] (images (n, 1, 28, 28) in [-1, 1]), shared x_T. notebooks/08."""
    return make_bank_grid_figure(bank[(solver, nfe)], f"{_label(solver)}, NFE = {nfe} (same x_T for every solver)", nrow)
