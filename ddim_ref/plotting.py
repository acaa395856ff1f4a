"""Pure figure functions `make_*_figure(...) -> Figure` and image-grid helpers. Used by every notebook."""

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
