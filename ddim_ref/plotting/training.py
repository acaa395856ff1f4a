"""Figures of training: loss curves, toy point clouds, the time embedding. notebooks/06."""

import numpy as np
import torch


def make_loss_curve_figure(losses, steps=None, smooth=50, title=None, logy=True):
    """Training loss L_simple (eq. 5 with gamma = 1) per step, with a running mean over `smooth` steps. notebooks/06."""
    import matplotlib.pyplot as plt

    losses = np.asarray(losses, dtype=np.float64)
    steps = np.arange(1, len(losses) + 1) if steps is None else np.asarray(steps)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    if smooth and smooth > 1 and len(losses) >= smooth:
        ax.plot(steps, losses, color="C0", alpha=0.25, lw=0.6, label="per step")
        kernel = np.ones(smooth) / smooth
        ax.plot(steps[smooth - 1:], np.convolve(losses, kernel, mode="valid"), color="C0", lw=1.5,
                label=f"mean of {smooth} steps")
        ax.legend()
    else:
        ax.plot(steps, losses, color="C0", lw=1.5)
    ax.set(xlabel="step", ylabel=r"$L_{\mathrm{simple}}$", title=title)
    if logy:
        ax.set_yscale("log")
    fig.tight_layout()
    return fig


def make_point_clouds_figure(clouds, lim=3.0, title=None):
    """Scatter plots of 2-D point clouds side by side, dict name -> (n, 2) tensor, same axes. notebooks/06."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(clouds), figsize=(3 * len(clouds), 3.1), squeeze=False)
    for ax, (name, x) in zip(axes[0], clouds.items()):
        x = torch.as_tensor(x).detach().cpu().float().numpy()
        ax.scatter(x[:, 0], x[:, 1], s=1.5, alpha=0.6, color="C0", rasterized=True)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), title=name, aspect="equal")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def make_toy_sampling_figure(eps_model, alpha_bar, data, S=50, eta=0.0, spacing="uniform", n=1000, seed=0):
    """Samples of a 2-D toy model by eq. (12) on tau = timesteps(T, S, spacing), against the data. notebooks/06."""
    import matplotlib.pyplot as plt

    from .. import metrics, samplers
    from .. import schedules as sch

    T = len(alpha_bar) - 1
    tau = sch.timesteps(T, int(S), spacing)
    x_T = torch.randn(n, data.shape[1], generator=torch.Generator().manual_seed(seed))  # (n, 2)
    with torch.no_grad():
        x0 = samplers.sample(eps_model, x_T, alpha_bar, tau, eta=float(eta),
                             generator=torch.Generator().manual_seed(seed + 1))
    sw = metrics.sliced_wasserstein(x0, data[:n])
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    d = data[:n].numpy()
    ax.scatter(d[:, 0], d[:, 1], s=1.5, color="0.75", label="data", rasterized=True)
    ax.scatter(x0[:, 0].numpy(), x0[:, 1].numpy(), s=1.5, color="C1", label="samples", rasterized=True)
    ax.set(xlim=(-3, 3), ylim=(-3, 3), aspect="equal",
           title=f"S = {len(tau)}, eta = {float(eta):.2f}: sliced W2 = {sw:.3f}")
    ax.legend(loc="lower left", markerscale=4)
    fig.tight_layout()
    return fig


def make_timestep_embedding_figure(dim=32, T=1000):
    """The sinusoidal embedding of the paper's t (unet.timestep_embedding) and the similarity of embeddings of t and s. notebooks/06."""
    import matplotlib.pyplot as plt

    from ..unet import timestep_embedding

    t = torch.arange(1, T + 1)  # (T,) the paper's t
    emb = timestep_embedding(t, dim).double()  # (T, dim)
    sim = (emb @ emb.T / (dim / 2)).numpy()  # (T, T) cosine similarity, |emb(t)|^2 = dim / 2
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    im = axes[0].imshow(emb.numpy().T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, extent=(1, T, dim - 0.5, -0.5),
                        interpolation="nearest")
    axes[0].set(xlabel="t", ylabel="embedding coordinate", title=f"sin | cos embedding of t, dim = {dim}")
    axes[0].grid(False)
    fig.colorbar(im, ax=axes[0], fraction=0.046)
    im = axes[1].imshow(sim, cmap="viridis", extent=(1, T, T, 1), vmin=-1, vmax=1)
    axes[1].set(xlabel="s", ylabel="t", title="cosine similarity of emb(t) and emb(s)")
    axes[1].grid(False)
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    fig.tight_layout()
    return fig
