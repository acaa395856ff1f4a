"""Classifier-free guidance as a composition of eps-models, and the exact target it is compared with. notebooks/09.

Ho & Salimans (2021, eq. 6) build, from one conditional model eps(x_t, t, y) whose y=None is the null
label (the unconditional model), the guided eps-model

    eps_w(x_t, t) = (1 + w) eps(x_t, t, y) - w eps(x_t, t, None),   w >= 0.

w = 0 is the conditional model. diffusers / Stable Diffusion write the same rule with the guidance scale
s = 1 + w, eps_uncond + s (eps_cond - eps_uncond) (the "w" of Imagen's eq. 2 is this s): s = 7.5 is w = 6.5,
and s = 1 (w = 0) switches guidance off. `classifier_free` returns an ordinary eps-model (x_t, t), so
samplers.sample, samplers.encode (any iters) and every solver take it unchanged. Each guided call costs
two network evaluations (one call of batch 2B with `null_label`), except at w = 0.

What does guidance aim at? With exact eps* = -sqrt(1 - a_t) grad log q_t (notebooks/03) the guided field is

    eps_w(x, t) = -sqrt(1 - a_t) grad_x log[ q_t(x | y)^(1 + w) q_t(x)^(-w) ],

-sqrt(1 - a_t) times the score of a "sharpened" density q_t(x | y)^(1+w) q_t(x)^(-w) = q_t(x | y) (q_t(y | x) / p(y))^w
at every t.
At t = 0 it is the target p_w(x) = p(x | y)^(1+w) p(x)^(-w) / Z: class y reweighted by the Bayes classifier
p(y | x)^w. But sharpening does not commute with the noising q(x_t | x_0) of eq. (4): a power of a
convolution is not the convolution of the power, so the sharpened q_t is not the law at time t of the
forward process started from p_w, and the guided field is not the eps* that would carry N(0, I) to p_w
(`sharpened_eps_model` computes that one by quadrature; tests/test_guidance.py measures the gap: O(1) at
intermediate t, vanishing as t -> 0). Guided DDIM or DDPM samples therefore do not follow p_w in general;
on the 1-D two-class mixture of the tests, w = 3 over-sharpens (Bradley & Nakkiran 2024, "Classifier-free
guidance is a predictor-corrector", show this for DDPM and DDIM). For w > 0 the guided field is in general
not the score of any diffusion; the exceptions are w = 0 (the conditional model) and Gaussians p(x | y), p(x)
with one shared covariance (the sharpened q_t is then the noised Gaussian with mean (1 + w) m_y - w m and that
covariance, so the two agree); a marginal over several classes is not such a Gaussian.

The sharpened density is not a Gaussian mixture, so for D <= 2 we normalise it on a grid (midpoint rule):
`sharpened_grid`, `sharpened_moments`, `sharpened_sample`, `sharpened_eps_model` take an
`analytic.GaussianMixture` with labels (its `conditional_eps_model` is the exact conditional eps*).
"""

import inspect

import torch


def classifier_free(eps_model, y, w, *, null_label=None):
    """Guided eps-model (x_t, t) -> (1 + w) eps(x_t, t, y) - w eps(x_t, t, None), Ho & Salimans (2021) eq. 6. notebooks/09.

    eps_model(x_t, t, y): a conditional model (y LongTensor (B,), None = the null label), e.g. a UNet with
        num_classes > 0 or `analytic.GaussianMixture.conditional_eps_model`.
    y: the class, an int (used for the whole batch) or a LongTensor (B,), one label per sample.
    w: guidance weight >= 0; the guidance scale of diffusers / Stable Diffusion is s = 1 + w. w = 0 returns
        the conditional model (one call per step); w > 0 costs two network evaluations per call.
    null_label: None: two calls, eps(x, t, y) and eps(x, t, None). An int: one call of batch 2B with the labels
        cat(y, null_label) (faster on a GPU); the null label is num_classes for both the UNet and the mixture.
    """
    _check_w(w)
    _check_conditional(eps_model)
    num_classes = _num_classes(eps_model)
    y = _check_label(y, num_classes)
    if null_label is not None and (isinstance(null_label, bool) or not isinstance(null_label, int) or null_label < 0):
        raise ValueError(f"null_label must be None (two calls) or the model's null label, an int >= 0, got {null_label!r}")
    if null_label is not None and num_classes is not None and null_label != num_classes:
        raise ValueError(f"this model's null label is num_classes = {num_classes}, got null_label={null_label}")

    def guided(x_t, t):
        y_b = _labels_for(y, x_t)  # (B,)
        if w == 0:
            return eps_model(x_t, t, y_b)
        if null_label is None:
            eps_cond, eps_uncond = eps_model(x_t, t, y_b), eps_model(x_t, t, None)  # (B, ...) each
        else:
            null = torch.full_like(y_b, null_label)  # (B,)
            eps_cond, eps_uncond = eps_model(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([y_b, null])).chunk(2)
        return (1 + w) * eps_cond - w * eps_uncond

    return guided


def sharpened_log_prob(mixture, x, y, w, t=0):
    """log[q_t(x | y)^(1 + w) q_t(x)^(-w)] per sample (B,), a log density up to a constant: CFG follows its score. notebooks/09."""
    _check_w(w)
    return (1 + w) * mixture.class_log_prob(x, y, t) - w * mixture.log_prob(x, t)


def sharpened_grid(mixture, y, w, n=None, lo=None, hi=None):
    """p_w(x) = p(x | y)^(1 + w) p(x)^(-w) / Z on a grid (D <= 2): points (N, D), cell probabilities (N,). notebooks/09.

    n points per axis (default 2001 in 1-D, 301 in 2-D) from lo to hi (default: 8 standard deviations around
    class y's components; p_w, proportional to p(x | y) p(y | x)^w, has lighter tails than p(x | y)).
    The density on the grid is probs / h^D, h = (hi - lo) / (n - 1); in 2-D reshape to (n, n) (indexing "ij").
    """
    _check_w(w)
    D = mixture.dim
    if D > 2:
        raise ValueError(f"the grid integrates numerically in D <= 2 dimensions, got D = {D}")
    n = (2001 if D == 1 else 301) if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n (grid points per axis) must be an integer >= 2, got {n!r}")
    cls = mixture.given(y)
    sd = cls.covs.diagonal(dim1=1, dim2=2).sqrt()  # (K_y, D)
    lo = (cls.means - 8 * sd).min(0).values if lo is None else torch.as_tensor(lo, dtype=torch.float64).expand(D)
    hi = (cls.means + 8 * sd).max(0).values if hi is None else torch.as_tensor(hi, dtype=torch.float64).expand(D)
    if not bool((lo < hi).all()):
        raise ValueError(f"need lo < hi in every coordinate, got lo={lo.tolist()}, hi={hi.tolist()}")
    axes = [torch.linspace(float(a), float(b), n, dtype=torch.float64) for a, b in zip(lo, hi)]
    points = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, D)  # (n^D, D)
    probs = torch.softmax(sharpened_log_prob(mixture, points, y, w), dim=0)  # (N,): equal cells: mass = density h^D
    return points, probs


def sharpened_moments(mixture, y, w, **grid):
    """Mean (D,), covariance (D, D) and mode weights (K,) = E[r_k(x)] of p_w on the grid of `sharpened_grid`. notebooks/09.

    The mode weights use the responsibilities r_k(x) of p_data at t = 0: compare them with
    mixture.responsibilities(samples).mean(0) of guided samples.
    """
    points, probs = sharpened_grid(mixture, y, w, **grid)
    mean = probs @ points  # (D,)
    centred = points - mean  # (N, D)
    cov = centred.T @ (probs[:, None] * centred)  # (D, D)
    return mean, cov, probs @ mixture.responsibilities(points)  # (K,)


def sharpened_sample(mixture, y, w, n, generator=None, **grid):
    """n draws (n, D) from p_w: a grid cell with probability probs, then a uniform point in that cell. notebooks/09."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    points, probs = sharpened_grid(mixture, y, w, **grid)
    h = _spacing(points)  # (D,)
    idx = torch.multinomial(probs, n, replacement=True, generator=generator)  # (n,)
    jitter = torch.rand(n, points.shape[1], generator=generator, dtype=torch.float64) - 0.5  # (n, D)
    return points[idx] + h * jitter


def sharpened_eps_model(mixture, y, w, **grid):
    """eps*(x_t, t) of the forward process (eq. 4) started at p_w, by quadrature on the grid; CFG's field is not it. notebooks/09.

    eps* = (x_t - sqrt(a) E[x_0 | x_t]) / sqrt(1 - a), E[x_0 | x_t] = sum_i p_i N(x_t; sqrt(a) x_i, 1 - a) x_i / (same sum
    without x_i). Exact up to the grid while sqrt(1 - a_t) is not below the spacing h: on the mixtures of the
    tests, with the linear schedule and the default grids, to 1e-13 from t = 1 in 1-D (h = 0.004) and from
    t = 10 in 2-D (h = 0.02; 3e-2 at t = 1). Cost per call: B x n^D (2-D: about 2 s for B = 200 on one core).
    """
    points, probs = sharpened_grid(mixture, y, w, **grid)  # (N, D), (N,)
    log_p, alpha_bar = probs.log(), mixture.alpha_bar

    def eps_model(x_t, t):
        x = x_t.to(torch.float64)  # (B, D)
        a = alpha_bar.to(x.device)[t][:, None]  # (B, 1)
        P, lp = points.to(x.device), log_p.to(x.device)
        out = torch.empty_like(x)
        for s in range(0, x.shape[0], 256):  # chunks of 256 samples keep memory at 256 x N
            xb, ab = x[s:s + 256], a[s:s + 256]  # (b, D), (b, 1)
            dist2 = ((xb[:, None, :] - ab.sqrt()[:, :, None] * P[None]) ** 2).sum(2)  # (b, N)
            post = torch.softmax(lp[None] - dist2 / (2 * (1 - ab)), dim=1)  # (b, N) p(x_0 = x_i | x_t)
            out[s:s + 256] = (xb - ab.sqrt() * (post @ P)) / (1 - ab).sqrt()
        return out.to(x_t.dtype)

    return eps_model


def _check_w(w):
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < float("inf"):
        raise ValueError(f"w must be a finite number >= 0 (0: the conditional model; guidance scale s = 1 + w), got {w!r}")


def _check_conditional(eps_model):
    """ValueError unless eps_model can be called as eps_model(x_t, t, y) by a model with classes."""
    if not callable(eps_model):
        raise ValueError(f"eps_model must be a callable eps_model(x_t, t, y), got {eps_model!r}")
    try:
        inspect.signature(eps_model).bind(None, None, None)
    except TypeError:
        raise ValueError("eps_model takes no label: guidance needs a conditional model eps_model(x_t, t, y) "
                         "with y=None for the unconditional one (e.g. mixture.conditional_eps_model, a UNet with num_classes > 0)")
    except ValueError:  # no signature to inspect (a builtin): let the first call decide
        pass
    if _num_classes(eps_model) == 0:
        raise ValueError("this model is unconditional (num_classes = 0): guidance needs a class-conditional model")


def _num_classes(eps_model):
    """Number of classes if the model says (a UNet's config, a GaussianMixture's bound method), else None."""
    owner = getattr(eps_model, "__self__", eps_model)  # a bound method's object
    config = getattr(owner, "config", None)
    n = getattr(config, "num_classes", getattr(owner, "num_classes", None))
    return n if isinstance(n, int) else None


def _check_label(y, num_classes):
    """y as an int or a 1-D integer tensor of classes (not the null label); range-checked when num_classes is known."""
    top = "" if num_classes is None else f" and < num_classes = {num_classes} (num_classes itself is the null label)"
    if isinstance(y, bool) or not (isinstance(y, int) or torch.is_tensor(y)):
        raise ValueError(f"y must be an int or a LongTensor (B,) of class labels >= 0{top}, got {y!r}")
    if torch.is_tensor(y) and (y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool or y.ndim != 1):
        raise ValueError(f"y must be a LongTensor of shape (B,) holding class labels, got {tuple(y.shape)} {y.dtype}")
    low, high = (y, y) if isinstance(y, int) else ((int(y.min()), int(y.max())) if y.numel() else (0, 0))
    if low < 0 or (num_classes is not None and high >= num_classes):
        raise ValueError(f"class labels must be >= 0{top}, got values in {low}..{high}")
    return y


def _labels_for(y, x_t):
    """y as a LongTensor (B,) on x_t's device; an int is broadcast to the batch."""
    if isinstance(y, int):
        return torch.full((x_t.shape[0],), y, dtype=torch.long, device=x_t.device)
    if y.shape != (x_t.shape[0],):
        raise ValueError(f"y has shape {tuple(y.shape)} but the batch has {x_t.shape[0]} samples; it must be (B,)")
    return y.to(device=x_t.device, dtype=torch.long)


def _spacing(points):
    """Grid spacing h (D,) of a meshgrid from `sharpened_grid`."""
    return torch.stack([c.unique().diff().mean() for c in points.T])
