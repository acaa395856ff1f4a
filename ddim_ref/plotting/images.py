"""Image grids, labelled image rows and notebook setup: the helpers every figure of the course uses."""

import math

import numpy as np
import torch


def image_grid(images, nrow=None, pad=1):
    """Tile images (N, C, H, W) in [-1, 1] into one array (rows*H', cols*W') or (.., 3) in [0, 1]."""
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) / 2).numpy()  # (N, C, H, W)
    n, c, h, w = x.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    ncol = math.ceil(n / nrow)
    grid = np.ones((c, ncol * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.float32)
    for i in range(n):
        r, k = divmod(i, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = x[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def save_image_grid(images, path, nrow=None):
    """Write images (N, C, H, W) in [-1, 1] as one PNG grid."""
    import matplotlib.pyplot as plt

    grid = image_grid(images, nrow)
    plt.imsave(path, grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1)


def make_image_grid_figure(images, nrow=None, title=None, scale=1.0):
    """Figure showing a grid of images (N, C, H, W) in [-1, 1]."""
    import matplotlib.pyplot as plt

    grid = image_grid(images, nrow)
    fig, ax = plt.subplots(figsize=(scale * grid.shape[1] / 30, scale * grid.shape[0] / 30 + (0.3 if title else 0)))
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def make_bank_grid_figure(images, title, nrow=8):
    """One grid of precomputed samples (n, 1, 28, 28) in [-1, 1] with a title: an explorer's frame (notebooks 04 and 08)."""
    import matplotlib.pyplot as plt

    grid = image_grid(images, nrow=nrow)
    fig, ax = plt.subplots(figsize=(0.6 * nrow, 0.6 * math.ceil(len(images) / nrow) + 0.4))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def make_image_rows_figure(rows, title=None, scale=0.55):
    """Labelled rows of images (dict label -> (n, 1, H, W) in [-1, 1]), e.g. originals / latents / reconstructions. notebooks/05."""
    import matplotlib.pyplot as plt

    ncol = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), 1, figsize=(scale * ncol + 1.2, scale * len(rows) + (0.35 if title else 0.1)),
                             squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items()):
        ax.imshow(image_grid(images, nrow=ncol), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig


def make_norm_histogram_figure(values, reference=None, xlabel="norm"):
    """Overlaid histograms of scalar samples (dict label -> 1-D values), e.g. latent norms for slerp vs lerp. notebooks/05."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.0))
    for k, (label, v) in enumerate(values.items()):
        ax.hist(torch.as_tensor(v).detach().cpu().double().numpy(), bins=30, alpha=0.6, color=f"C{k}", label=label)
    if reference is not None:
        ax.axvline(reference, color="k", ls="--", lw=1, label=f"{reference:.3g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def setup_notebook(seed=0, dpi=72):
    """Seed torch and numpy, and set small figure defaults so executed notebooks stay small. Every notebook."""
    import matplotlib.pyplot as plt

    torch.manual_seed(seed)
    np.random.seed(seed)
    plt.rcParams.update({"figure.dpi": dpi, "savefig.dpi": dpi, "figure.figsize": (6.0, 3.5), "font.size": 9,
                         "axes.grid": True, "grid.alpha": 0.3})
