"""Noise schedules and sampling sub-sequences tau. Introduced in notebooks/01 and notebooks/04.

Notation (fixed for the whole package; the code follows the DDIM paper, not DDPM):

| code              | DDIM paper (Song et al. 2021)      | DDPM paper (Ho et al. 2020)      |
|-------------------|------------------------------------|----------------------------------|
| `betas[t-1]`      | beta_t                             | beta_t                           |
| `alpha_bar[t]`    | alpha_t = prod_{s<=t} (1 - beta_s) | alpha-bar_t                      |
| `1 - betas[t-1]`  | alpha_t / alpha_{t-1}              | alpha_t                          |
| `t`               | 1..T, t = 0 is data                | 1..T                             |

`alpha_bar` is a float64 tensor of length T + 1 with `alpha_bar[0] == 1`, so `alpha_bar[t]` is the
paper's alpha_t for the paper's t: there is no "minus one" anywhere. `betas` has length T and is
only an input to `alpha_bars`.

A sub-sequence `tau` is an increasing LongTensor with values in 1..T. Samplers visit
tau_S, ..., tau_1 and finally t = 0.
"""

import math

import numpy as np
import torch

SPACINGS = ("uniform", "quadratic", "trailing", "linspace")


def linear_betas(T=1000, beta_start=1e-4, beta_end=0.02):
    """Linear beta schedule of DDPM/DDIM (beta_1 = 1e-4 ... beta_T = 0.02); float64 (T,). notebooks/01."""
    _check_T(T)
    if not 0.0 < beta_start <= beta_end < 1.0:
        raise ValueError(f"need 0 < beta_start <= beta_end < 1, got beta_start={beta_start}, beta_end={beta_end}")
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)  # (T,)


def cosine_betas(T=1000, s=0.008, max_beta=0.999):
    """Cosine schedule of Nichol & Dhariwal (2021), alpha_t = f(t)/f(0), f = cos^2; float64 (T,). notebooks/01."""
    _check_T(T)
    if s < 0 or not 0.0 < max_beta < 1.0:
        raise ValueError(f"need s >= 0 and 0 < max_beta < 1, got s={s}, max_beta={max_beta}")
    t = torch.arange(T + 1, dtype=torch.float64)  # (T+1,)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = 1 - alpha_bar[1:] / alpha_bar[:-1]  # (T,)
    return betas.clamp(max=max_beta)  # the clip of the original paper, avoids beta_T = 1


def alpha_bars(betas):
    """The paper's alpha_t = prod_{s<=t} (1 - beta_s) for t = 0..T, with alpha_bar[0] = 1; float64 (T+1,). notebooks/01."""
    betas = torch.as_tensor(betas, dtype=torch.float64)
    if betas.ndim != 1 or betas.numel() < 1:
        raise ValueError(f"betas must be a non-empty 1-D tensor, got shape {tuple(betas.shape)}")
    inner, last = betas[:-1], betas[-1]  # only beta_T may reach 1 (zero terminal SNR, alpha_T = 0)
    if not bool(((inner > 0) & (inner < 1)).all()) or not 0 < float(last) <= 1:
        raise ValueError("every beta_t must lie in the open interval (0, 1); only the last, beta_T, may equal 1 "
                         "(zero terminal SNR, see rescale_zero_terminal_snr)")
    one = torch.ones(1, dtype=torch.float64, device=betas.device)
    return torch.cat([one, torch.cumprod(1 - betas, dim=0)])  # (T+1,)


def rescale_zero_terminal_snr(betas):
    """Betas (T,) float64 rescaled to zero terminal SNR, alpha_T = 0 exactly (Lin et al. 2024, Algorithm 1). notebooks/08.

    Lin et al., "Common Diffusion Noise Schedules and Sample Steps are Flawed" (WACV 2024):
    sqrt(alpha_t) is shifted by -sqrt(alpha_T) and scaled so that sqrt(alpha_1) keeps its value:
    sqrt(alpha_t)' = (sqrt(alpha_t) - sqrt(alpha_T)) sqrt(alpha_1) / (sqrt(alpha_1) - sqrt(alpha_T)), an affine map.
    Then beta_T = 1 and x_T = eps exactly: an eps-model cannot predict x_0 at t = T, so sample such a schedule
    with a v-model (forward.eps_model_from_v) or with a tau that stops below T.
    """
    sqrt_ab = alpha_bars(betas)[1:].sqrt()  # (T,) sqrt(alpha_t), t = 1..T
    first, last = float(sqrt_ab[0]), float(sqrt_ab[-1])
    if not first > last:
        raise ValueError("rescale_zero_terminal_snr needs alpha_1 > alpha_T (T >= 2 and a decreasing schedule)")
    sqrt_ab = (sqrt_ab - last) * (first / (first - last))  # (T,) affine: [0] unchanged, [-1] = 0 exactly
    ab = torch.cat([torch.ones(1, dtype=torch.float64, device=sqrt_ab.device), sqrt_ab**2])  # (T+1,)
    return 1 - ab[1:] / ab[:-1]  # (T,) beta_t = 1 - alpha_t / alpha_{t-1}; beta_T = 1


def snr(alpha_bar):
    """Signal-to-noise ratio alpha_t / (1 - alpha_t) for t = 0..T (infinite at t = 0). notebooks/01."""
    return alpha_bar / (1 - alpha_bar)


def timesteps(T=1000, S=50, spacing="uniform"):
    """Sub-sequence tau of S increasing steps in 1..T (section 4.2, appendix C.1). notebooks/04.

    "uniform":   tau_i = 1 + (i - 1) * (T // S), i = 1..S: the official DDIM code's `uniform`
                 (range(0, T, T // S)) shifted to 1-based t; T = 1000, S = 10 gives 1, 101, ..., 901.
                 When S does not divide T the official range has more than S elements; we keep the
                 first S, so S is always the number of network calls. Never reaches t = T.
    "quadratic": tau = int(linspace(0, sqrt(0.8 T), S)^2) + 1: the official `quad` shifted to 1-based t.
                 For large S the integer rounding repeats small steps (T = 1000, S = 100 gives
                 1, 1, 1, 1, 2, ...). A repeated step is the identity map (alpha_t = alpha_prev gives
                 sigma_t = 0 and x_prev = x_t for every eta), so we drop repeats: the samples equal the
                 official code's, with fewer network calls, and len(tau) can be smaller than S.
    "trailing":  tau_i = round(i T / S), i = 1..S, ends at tau_S = T (Lin et al. 2024).
    "linspace":  tau_i = round(1 + (i - 1)(T - 1)/(S - 1)), S points spread from 1 to T.
    Rounding is half-up and done in integers, so the values are exact.
    """
    _check_T(T)
    if isinstance(S, bool) or not isinstance(S, int) or not 1 <= S <= T:
        raise ValueError(f"S must be an integer with 1 <= S <= T = {T}, got S={S!r}")
    i = torch.arange(1, S + 1, dtype=torch.int64)  # (S,) the paper's i = 1..S
    if spacing == "uniform":
        tau = 1 + (i - 1) * (T // S)
    elif spacing == "quadratic":
        grid = np.linspace(0, np.sqrt(T * 0.8), S) ** 2  # numpy, as in the official code, for identical rounding
        tau = torch.unique(torch.from_numpy(grid.astype(np.int64)) + 1)  # sorted; drops repeats (see docstring)
    elif spacing == "trailing":
        tau = (2 * i * T + S) // (2 * S)
    elif spacing == "linspace":
        tau = 1 + (2 * (i - 1) * (T - 1) + (S - 1)) // (2 * (S - 1)) if S > 1 else torch.ones(1, dtype=torch.int64)
    else:
        raise ValueError(f"unknown spacing {spacing!r}; allowed: {', '.join(SPACINGS)}")
    return check_tau(tau, T)


def check_tau(tau, T):
    """Return tau as a LongTensor after checking it is 1-D, strictly increasing, with values in 1..T. notebooks/04."""
    tau = torch.as_tensor(tau)
    if tau.dtype.is_floating_point or tau.dtype == torch.bool or tau.dtype.is_complex:
        raise ValueError(f"tau must hold integers (the paper's t in 1..T), got dtype {tau.dtype}")
    tau = tau.long()
    if tau.ndim != 1 or tau.numel() < 1:
        raise ValueError(f"tau must be a non-empty 1-D tensor, got shape {tuple(tau.shape)}")
    if int(tau.min()) < 1 or int(tau.max()) > T:
        raise ValueError(f"tau values must lie in 1..T = 1..{T} (t = 0 is data), got min {int(tau.min())}, max {int(tau.max())}")
    if tau.numel() > 1 and not bool((tau[1:] > tau[:-1]).all()):
        raise ValueError(f"tau must be strictly increasing (tau_1 < ... < tau_S), got {tau.tolist()}")
    return tau


def check_alpha_bar(alpha_bar):
    """Return T after checking alpha_bar is a 1-D tensor of length T + 1 with alpha_bar[0] = 1 and values in (0, 1) after.

    The one exception is alpha_bar[T] = 0 (zero terminal SNR, `rescale_zero_terminal_snr`); samplers then need a
    model that predicts x_0 at t = T (see forward.eps_model_from_v).
    """
    if not torch.is_tensor(alpha_bar) or alpha_bar.ndim != 1 or alpha_bar.numel() < 2:
        raise ValueError("alpha_bar must be a 1-D tensor of length T + 1 from schedules.alpha_bars (alpha_bar[0] = 1)")
    if not math.isclose(float(alpha_bar[0]), 1.0, abs_tol=1e-12):
        raise ValueError(f"alpha_bar[0] must be 1 (t = 0 is data), got {float(alpha_bar[0])}; did you pass alpha_bar[1:]?")
    inner, last = alpha_bar[1:-1], float(alpha_bar[-1])
    if not bool(((inner > 0) & (inner < 1)).all()) or not 0 <= last < 1:
        raise ValueError("alpha_bar[t] must lie in the open interval (0, 1) for t = 1..T; only alpha_bar[T] may be 0 "
                         "(zero terminal SNR)")
    return alpha_bar.numel() - 1


def _check_T(T):
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive integer, got {T!r}")
