"""Forward processes: q(x_t | x_0) (eq. 4), the non-Markovian q_sigma (eqs. 7-8), x0/eps/v conversions.

Introduced in notebooks/01 (marginals) and notebooks/02 (q_sigma); v-prediction in notebooks/06 and notebooks/08. Every `alpha_*` argument is the
paper's alpha (DDPM's alpha-bar): a Python float, or a tensor that broadcasts against x, e.g. a 0-d
tensor for one t, or `append_dims(alpha_bar[t], x.ndim)` for one t per sample.
"""

import torch

from .schedules import check_alpha_bar


def append_dims(a, ndim):
    """Reshape a per-sample tensor (B,) to (B, 1, ..., 1) with `ndim` dimensions, for broadcasting."""
    return a.reshape(a.shape + (1,) * (ndim - a.ndim))


def coef(a, x):
    """`a` as a tensor on x's device and dtype that broadcasts against x (clear ValueError otherwise)."""
    if torch.is_tensor(a):
        a = a.to(device=x.device, dtype=x.dtype)
    else:  # a Python number goes straight to x's dtype (never through float32)
        a = torch.tensor(a, device=x.device, dtype=x.dtype)
    try:
        shape = torch.broadcast_shapes(a.shape, x.shape)
    except RuntimeError:
        shape = None
    if shape != x.shape:
        raise ValueError(
            f"a coefficient of shape {tuple(a.shape)} does not broadcast against x of shape {tuple(x.shape)}; "
            "pass a float, a 0-d tensor, or a per-sample tensor reshaped with append_dims(a, x.ndim)"
        )
    return a


def direction_coef(alpha_prev, sigma):
    """Coefficient sqrt(1 - alpha_prev - sigma^2) of the "direction pointing to x_t", eqs. (7) and (12)."""
    d2 = 1 - alpha_prev - sigma**2
    tol = 64 * (2.2e-16 if isinstance(d2, float) else torch.finfo(d2.dtype).eps)  # round-off of the dtype only
    bad = d2 < -tol if isinstance(d2, float) else bool((d2 < -tol).any())
    if bad:
        raise ValueError("sigma_t^2 must not exceed 1 - alpha_prev (eq. 7); for sigma-hat use direction_sigma = sigma_t(eta=1)")
    return max(d2, 0.0) ** 0.5 if isinstance(d2, float) else d2.clamp(min=0).sqrt()  # clamp: round-off only


def q_mean_std(x0, alpha_t):
    """Mean sqrt(alpha_t) x_0 and std sqrt(1 - alpha_t) of q(x_t | x_0), eq. (4). notebooks/01."""
    alpha_t = coef(alpha_t, x0)
    return alpha_t.sqrt() * x0, (1 - alpha_t).sqrt()


def q_sample(x0, alpha_t, eps):
    """Draw x_t = sqrt(alpha_t) x_0 + sqrt(1 - alpha_t) eps from q(x_t | x_0), eq. (4). notebooks/01."""
    mean, std = q_mean_std(x0, alpha_t)
    return mean + std * eps


def q_sigma_mean_std(x_t, x0, alpha_t, alpha_prev, sigma):
    """Mean and std of q_sigma(x_{t-1} | x_t, x_0), eq. (7). notebooks/02.

    mean = sqrt(alpha_prev) x_0 + sqrt(1 - alpha_prev - sigma^2) (x_t - sqrt(alpha_t) x_0) / sqrt(1 - alpha_t),
    std = sigma. Requires sigma^2 <= 1 - alpha_prev.
    """
    alpha_t, alpha_prev, sigma = coef(alpha_t, x_t), coef(alpha_prev, x_t), coef(sigma, x_t)
    direction = direction_coef(alpha_prev, sigma)
    eps = (x_t - alpha_t.sqrt() * x0) / (1 - alpha_t).sqrt()  # the noise that takes x_0 to x_t
    return alpha_prev.sqrt() * x0 + direction * eps, sigma


def q_sigma_forward_mean_std(x_prev, x0, alpha_t, alpha_prev, sigma):
    """Mean and std of the forward q_sigma(x_t | x_{t-1}, x_0), eq. (8), by Bayes' rule. notebooks/02.

    With k = sqrt(1 - alpha_prev - sigma^2) / sqrt(1 - alpha_t):
    mean = sqrt(alpha_t) x_0 + k (1 - alpha_t) / (1 - alpha_prev) (x_{t-1} - sqrt(alpha_prev) x_0),
    var = (1 - alpha_t) sigma^2 / (1 - alpha_prev). Needs alpha_prev < 1 (t >= 2).
    """
    alpha_t, alpha_prev, sigma = coef(alpha_t, x_prev), coef(alpha_prev, x_prev), coef(sigma, x_prev)
    if bool((alpha_prev >= 1).any()):
        raise ValueError("eq. (8) needs alpha_prev < 1, i.e. t >= 2: x_{t-1} = x_0 carries no noise at t = 1")
    k = direction_coef(alpha_prev, sigma) / (1 - alpha_t).sqrt()
    mean = alpha_t.sqrt() * x0 + k * (1 - alpha_t) / (1 - alpha_prev) * (x_prev - alpha_prev.sqrt() * x0)
    return mean, ((1 - alpha_t) / (1 - alpha_prev)).sqrt() * sigma


def x0_from_eps(x_t, eps, alpha_t):
    """x_0 prediction f(x_t) = (x_t - sqrt(1 - alpha_t) eps) / sqrt(alpha_t), eq. (9). notebooks/03."""
    alpha_t = coef(alpha_t, x_t)
    return (x_t - (1 - alpha_t).sqrt() * eps) / alpha_t.sqrt()


def eps_from_x0(x_t, x0, alpha_t):
    """Noise implied by an x_0 prediction: (x_t - sqrt(alpha_t) x_0) / sqrt(1 - alpha_t). notebooks/02."""
    alpha_t = coef(alpha_t, x_t)
    return (x_t - alpha_t.sqrt() * x0) / (1 - alpha_t).sqrt()


def v_from_eps(x_t, eps, alpha_t):
    """v = sqrt(alpha_t) eps - sqrt(1 - alpha_t) x_0 (Salimans & Ho 2022) from an eps prediction. notebooks/06, notebooks/08."""
    alpha_t = coef(alpha_t, x_t)
    return alpha_t.sqrt() * eps - (1 - alpha_t).sqrt() * x0_from_eps(x_t, eps, alpha_t)


def eps_from_v(x_t, v, alpha_t):
    """eps = sqrt(1 - alpha_t) x_t + sqrt(alpha_t) v, the inverse of `v_from_eps` (the U-Net's skip output). notebooks/06, notebooks/08."""
    alpha_t = coef(alpha_t, x_t)
    return (1 - alpha_t).sqrt() * x_t + alpha_t.sqrt() * v


def x0_from_v(x_t, v, alpha_t):
    """x_0 = sqrt(alpha_t) x_t - sqrt(1 - alpha_t) v: defined even at alpha_t = 0, unlike eq. (9). notebooks/08."""
    alpha_t = coef(alpha_t, x_t)
    return alpha_t.sqrt() * x_t - (1 - alpha_t).sqrt() * v


ZERO_SNR_MESSAGE = (
    "tau visits a t with alpha_bar[t] = 0 (zero terminal SNR), where an eps-model cannot predict x_0: x_t = eps "
    "carries no information about x_0 and eq. (9) would divide by sqrt(alpha_t) = 0. Use a v-prediction model "
    "wrapped by forward.eps_model_from_v(v_model, alpha_bar) (or any eps-model with an x0_model(x_t, t) method), "
    "or a tau whose last element is below T.")


def eps_model_from_v(v_model, alpha_bar):
    """An eps-model from a v-prediction model v_model(x_t, t): eps = sqrt(1 - alpha_t) x_t + sqrt(alpha_t) v. notebooks/08.

    The returned function also carries `x0_model(x_t, t)` = sqrt(alpha_t) x_t - sqrt(1 - alpha_t) v. It is what
    samplers and solvers call at alpha_t = 0 (zero terminal SNR): there x_t = eps, so the eps interface says
    nothing about x_0 while the v-model still predicts it (x_0 = -v). See `require_x0_model`.
    """
    check_alpha_bar(alpha_bar)
    alpha_bar = alpha_bar.detach().to(torch.float64)  # (T+1,)

    def alpha_at(t, x_t):  # (B, 1, ..., 1) alpha_bar[t] per sample, in x_t's dtype
        return append_dims(alpha_bar.to(x_t.device)[t], x_t.ndim).to(x_t.dtype)

    def eps_model(x_t, t):
        return eps_from_v(x_t, v_model(x_t, t), alpha_at(t, x_t))

    def x0_model(x_t, t):
        return x0_from_v(x_t, v_model(x_t, t), alpha_at(t, x_t))

    eps_model.x0_model = x0_model
    return eps_model


def require_x0_model(eps_model):
    """The `x0_model(x_t, t)` an eps-model must carry to be sampled from alpha_t = 0, or a ValueError saying why. notebooks/08."""
    x0_model = getattr(eps_model, "x0_model", None)
    if not callable(x0_model):
        raise ValueError(ZERO_SNR_MESSAGE)
    return x0_model
