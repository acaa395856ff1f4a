"""ddim_ref: a small, tested reference implementation of DDIM (Song, Meng & Ermon, ICLR 2021).

Modules (one concept each): schedules, forward, samplers, objectives, analytic, data, unet, train,
metrics, plotting, widgets, cli. See README.md for the notation table and the public API.
"""

__version__ = "0.1.0"
