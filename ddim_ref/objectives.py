"""Training objectives: DDPM's simple loss, L_gamma (eq. 5), J_sigma term by term and by paths (eq. 11), Theorem 1's gamma.

Introduced in notebooks/03. Theorem 1 says J_sigma = L_gamma + C for some gamma > 0 and constant C. With
f_theta(x_t) = (x_t - sqrt(1 - alpha_t) eps_theta) / sqrt(alpha_t) (eq. 9), p_theta(x_{t-1} | x_t) =
q_sigma(x_{t-1} | x_t, f_theta(x_t)) for t >= 2 (eq. 10) and x_0 - f_theta = sqrt((1 - alpha_t)/alpha_t) (eps_theta - eps):

    t >= 2: KL(q_sigma(x_{t-1}|x_t,x_0) || p_theta(x_{t-1}|x_t)) = c_t^2 ||x_0 - f_theta||^2 / (2 sigma_t^2),
            c_t = sqrt(alpha_{t-1}) - sqrt(1 - alpha_{t-1} - sigma_t^2) sqrt(alpha_t) / sqrt(1 - alpha_t);
    t = 1:  -log N(x_0; f_theta(x_1), sigma_1^2 I) = ||x_0 - f_theta||^2 / (2 sigma_1^2) + d/2 log(2 pi sigma_1^2),

so gamma_t = c_t^2 (1 - alpha_t) / (2 sigma_t^2 alpha_t) with c_1 = 1, and
C = KL(q(x_T|x_0) || N(0, I)) + d/2 log(2 pi sigma_1^2).

The "sigma" of these functions is a float64 table (T+1,) indexed by the paper's t ([0] unused, 0). Eq. (16)
gives sigma_1 = 0 for every eta (alpha_0 = 1), which makes the t = 1 decoder a point mass and J_sigma
infinite; pass `sigma_1` to `sigma_schedule` to choose the decoder's std (e.g. sqrt(beta_1), DDPM's choice).

Eq. (11) itself is an expectation over whole paths of q_sigma; `j_sigma_path` estimates it along sampled paths, without
the KL step. For an eps-model affine in x_t (e.g. the exact eps* of Gaussian data) p_theta(x_0) is Gaussian:
`affine_model_marginal` gives its mean and covariance and `affine_model_nll` the exact -log p_theta(x_0), so the gap
J_sigma - E[-log p_theta(x_0)] (the expected KL between the two path posteriors) can be measured.

Common random numbers: `l_gamma` and `j_sigma_terms` take `eps` of shape (T+1, B, *x0.shape[1:]) where
eps[t] is the noise of x_t = sqrt(alpha_t) x_0 + sqrt(1 - alpha_t) eps[t]; eps[0] is unused (index t is
the paper's t). Passing the same `eps` to both makes J_sigma - L_gamma = C exactly, per sample.
"""

import math

import torch

from . import forward, samplers
from .schedules import check_alpha_bar


def sample_t(batch, T, generator=None, device=None):
    """Training times t ~ Uniform{1, ..., T}, LongTensor (batch,) (DDPM Algorithm 1). notebooks/03."""
    for name, v in (("batch", batch), ("T", T)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return torch.randint(1, T + 1, (batch,), generator=generator, device=device)


def simple_loss(eps_model, x0, alpha_bar, t, eps):
    """DDPM's L_simple: mean over batch and dimensions of (eps - eps_theta(x_t, t))^2, x_t from eq. (4). notebooks/03."""
    T = check_alpha_bar(alpha_bar)
    _check_eps(eps, x0.shape, "eps")
    t = _check_t(t, x0.shape[0], T, x0.device)
    a = forward.append_dims(alpha_bar.to(x0.device)[t], x0.ndim)  # (B, 1, ..., 1)
    x_t = forward.q_sample(x0, a, eps)
    return ((eps - eps_model(x_t, t)) ** 2).mean()


def sigma_schedule(alpha_bar, eta, sigma_1=None):
    """sigma_t(eta) of eq. (16) for t = 0..T as float64 (T+1,), [0] = 0; `sigma_1` overrides [1] (eq. 16 gives 0). notebooks/03."""
    T = check_alpha_bar(alpha_bar)
    ab = alpha_bar.detach().to(torch.float64)
    sigma = torch.zeros(T + 1, dtype=torch.float64, device=ab.device)
    sigma[1:] = samplers.ddim_sigma(ab[1:], ab[:-1], eta)
    if sigma_1 is not None:
        if isinstance(sigma_1, bool) or not isinstance(sigma_1, (int, float)) or not sigma_1 > 0:
            raise ValueError(f"sigma_1 (the std of p_theta(x_0 | x_1)) must be a number > 0, got {sigma_1!r}")
        sigma[1] = float(sigma_1)
    return sigma


def theorem1_gamma(alpha_bar, sigma):
    """Weights gamma (T+1,) with J_sigma = L_gamma + C (Theorem 1; eqs. 5, 10, 11), [0] = 0. notebooks/03."""
    T = check_alpha_bar(alpha_bar)
    sigma = _check_sigma(sigma, alpha_bar)  # (T+1,)
    ab = alpha_bar.detach().to(device=sigma.device, dtype=torch.float64)  # (T+1,) ab[t] = alpha_t
    c = torch.ones(T + 1, dtype=torch.float64, device=sigma.device)  # c_1 = 1: p_theta(x_0|x_1) has mean f_theta
    # t = 2..T: ab[2:] is alpha_t, ab[1:-1] is alpha_{t-1}, sigma[2:] is sigma_t
    c[2:] = ab[1:-1].sqrt() - forward.direction_coef(ab[1:-1], sigma[2:]) * ab[2:].sqrt() / (1 - ab[2:]).sqrt()
    gamma = torch.zeros(T + 1, dtype=torch.float64, device=sigma.device)
    gamma[1:] = c[1:] ** 2 * (1 - ab[1:]) / (2 * sigma[1:] ** 2 * ab[1:])
    return gamma


def theorem1_constant(x0, alpha_bar, sigma):
    """C of Theorem 1 per sample (B,): KL(q(x_T|x_0) || N(0, I)) + d/2 log(2 pi sigma_1^2). notebooks/03."""
    T = check_alpha_bar(alpha_bar)
    sigma = _check_sigma(sigma, alpha_bar)
    d = x0[0].numel()
    return prior_kl(x0, alpha_bar[T]) + 0.5 * d * math.log(2 * math.pi * float(sigma[1]) ** 2)


def gaussian_kl(mean_q, std_q, mean_p, std_p):
    """KL(N(mean_q, std_q^2 I) || N(mean_p, std_p^2 I)) per sample (B,), summed over all but the first dim. notebooks/03."""
    shape = torch.broadcast_shapes(mean_q.shape, mean_p.shape)
    std_q, std_p = torch.as_tensor(std_q, dtype=mean_q.dtype), torch.as_tensor(std_p, dtype=mean_q.dtype)
    if bool((std_q <= 0).any()) or bool((std_p <= 0).any()):
        raise ValueError("gaussian_kl needs std_q > 0 and std_p > 0 (a point mass has no density)")
    kl = torch.log(std_p / std_q) + (std_q**2 + (mean_q - mean_p) ** 2) / (2 * std_p**2) - 0.5
    return kl.expand(shape).reshape(shape[0], -1).sum(1)


def prior_kl(x0, alpha_T):
    """KL(q(x_T | x_0) || N(0, I)) per sample (B,), the first term of eq. (11) with q from eq. (4). notebooks/03."""
    mean, std = forward.q_mean_std(x0, float(alpha_T))
    return gaussian_kl(mean, std, torch.zeros_like(x0), 1.0)


def l_gamma(eps_model, x0, alpha_bar, gamma, eps=None, generator=None):
    """L_gamma of eq. (5) per sample (B,): sum_t gamma_t ||eps_theta(x_t, t) - eps_t||^2, one eps per (sample, t). notebooks/03.

    Unbiased single-sample estimate over eps; steps with gamma_t = 0 are skipped (no network call).
    `eps`: (T+1, B, *x0.shape[1:]) with eps[t] the noise of step t (eps[0] unused); drawn with `generator` if None.
    """
    T = check_alpha_bar(alpha_bar)
    gamma = torch.as_tensor(gamma, dtype=torch.float64)
    if gamma.shape != (T + 1,):
        raise ValueError(f"gamma must have shape (T+1,) = ({T + 1},) indexed by the paper's t, got {tuple(gamma.shape)}")
    eps = _eps_table(eps, x0, T, generator)
    total = x0.new_zeros(x0.shape[0])  # (B,)
    for t, x_t, eps_t, eps_theta in _predictions(eps_model, x0, alpha_bar, eps, skip=gamma == 0):
        total = total + float(gamma[t]) * ((eps_theta - eps_t) ** 2).reshape(x0.shape[0], -1).sum(1)
    return total


def j_sigma_terms(eps_model, x0, alpha_bar, sigma, eps=None, generator=None):
    """The terms of J_sigma (eq. 11) per sample (B, T+1), from the Gaussian KLs of eqs. (4), (7), (10). notebooks/03.

    Column 0: KL(q(x_T|x_0) || N(0, I)). Column t >= 2: KL(q_sigma(x_{t-1}|x_t,x_0) || p_theta(x_{t-1}|x_t)) at
    x_t ~ q(x_t|x_0) (Lemma 1). Column 1: -log N(x_0; f_theta(x_1), sigma_1^2 I). `eps` as in `l_gamma`.
    """
    T = check_alpha_bar(alpha_bar)
    sigma = _check_sigma(sigma, alpha_bar)
    eps = _eps_table(eps, x0, T, generator)
    B, d = x0.shape[0], x0[0].numel()
    ab = alpha_bar.detach().double().tolist()
    terms = x0.new_zeros(B, T + 1)  # (B, T+1)
    terms[:, 0] = prior_kl(x0, ab[T])
    for t, x_t, eps_t, eps_theta in _predictions(eps_model, x0, alpha_bar, eps):
        f_theta = forward.x0_from_eps(x_t, eps_theta, ab[t])  # eq. (9)
        s = float(sigma[t])
        if t == 1:
            sq = ((x0 - f_theta) ** 2).reshape(B, -1).sum(1)
            terms[:, 1] = sq / (2 * s**2) + 0.5 * d * math.log(2 * math.pi * s**2)
        else:
            mean_q, std_q = forward.q_sigma_mean_std(x_t, x0, ab[t], ab[t - 1], s)  # eq. (7)
            mean_p, std_p = forward.q_sigma_mean_std(x_t, f_theta, ab[t], ab[t - 1], s)  # eq. (10)
            terms[:, t] = gaussian_kl(mean_q, std_q, mean_p, std_p)
    return terms


def j_sigma(eps_model, x0, alpha_bar, sigma, eps=None, generator=None):
    """J_sigma of eq. (11) per sample (B,): the sum of `j_sigma_terms`. notebooks/03."""
    return j_sigma_terms(eps_model, x0, alpha_bar, sigma, eps, generator).sum(1)


def j_sigma_path(eps_model, x0, alpha_bar, sigma, generator=None):
    """One-path Monte Carlo estimate of eq. (11)'s integrand log q_sigma(x_{1:T}|x_0) - log p_theta(x_{0:T}), per sample (B,). notebooks/03.

    Draws x_T ~ q(x_T|x_0) and x_{t-1} ~ q_sigma(x_{t-1}|x_t, x_0) for t = T..2 (eqs. 4, 6, 7) and sums the log-ratios of
    the factors of eq. (6) and of p_theta (eq. 10): prior, one term per t >= 2, and -log p_theta(x_0|x_1). Its mean over
    paths is the KL form `j_sigma` (notebooks/03, section 3); it needs no KL formula, only log densities, and has a larger
    variance. Noise comes from `generator`.
    """
    T = check_alpha_bar(alpha_bar)
    sigma = _check_sigma(sigma, alpha_bar)  # (T+1,)
    ab = alpha_bar.detach().double().tolist()
    B = x0.shape[0]
    t_batch = torch.empty(B, dtype=torch.long, device=x0.device)

    def draw():
        return torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)

    def predict_x0(x_t, t):  # f_theta of eq. (9)
        eps_theta = eps_model(x_t, t_batch.fill_(t))
        if eps_theta.shape != x0.shape:
            raise ValueError(f"eps_model returned shape {tuple(eps_theta.shape)} for input {tuple(x0.shape)}; they must match")
        return forward.x0_from_eps(x_t, eps_theta, ab[t])

    mean_T, std_T = forward.q_mean_std(x0, ab[T])
    x_t = mean_T + std_T * draw()  # x_T ~ q(x_T | x_0), eq. (4)
    total = _log_normal(x_t, mean_T, float(std_T)) - _log_normal(x_t, torch.zeros_like(x0), 1.0)  # (B,)
    for t in range(T, 1, -1):
        s = float(sigma[t])
        mean_q, _ = forward.q_sigma_mean_std(x_t, x0, ab[t], ab[t - 1], s)  # eq. (7)
        mean_p, _ = forward.q_sigma_mean_std(x_t, predict_x0(x_t, t), ab[t], ab[t - 1], s)  # eq. (10)
        x_prev = mean_q + s * draw()
        # log N(x_prev; mean_q, s^2 I) - log N(x_prev; mean_p, s^2 I): the normalisers cancel
        total = total + ((mean_q - mean_p) * (2 * x_prev - mean_q - mean_p)).reshape(B, -1).sum(1) / (2 * s**2)
        x_t = x_prev
    return total - _log_normal(x0, predict_x0(x_t, 1), float(sigma[1]))  # decoder p_theta(x_0 | x_1), eq. (10)


def affine_model_marginal(eps_model, alpha_bar, sigma, shape):
    """Mean (D,) and covariance (D, D) of p_theta(x_0) (eq. 10) for an eps_model affine in x_t: a linear-Gaussian chain. notebooks/03.

    `shape`: the shape of one x_0 (an int D or a tuple). Each step's mean x_t -> M_t x_t + b_t is read off the model at
    x_t = 0 and at the unit vectors, and checked at a random point (ValueError if the model is not affine); then
    mean <- M_t mean + b_t and cov <- M_t cov M_t^T + sigma_t^2 I from N(0, I) at t = T down to t = 1 (float64).
    """
    T = check_alpha_bar(alpha_bar)
    sigma = _check_sigma(sigma, alpha_bar)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    D = math.prod(shape)
    ab = alpha_bar.detach().double().tolist()
    dev = alpha_bar.device
    probe = torch.cat([torch.zeros(1, D, dtype=torch.float64, device=dev), torch.eye(D, dtype=torch.float64, device=dev),
                       torch.randn(1, D, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(dev)])  # (D+2, D)
    mean = torch.zeros(D, dtype=torch.float64, device=dev)
    cov = torch.eye(D, dtype=torch.float64, device=dev)
    for t in range(T, 0, -1):
        x_t = probe.reshape(D + 2, *shape)
        f = forward.x0_from_eps(x_t, eps_model(x_t, torch.full((D + 2,), t, dtype=torch.long, device=dev)).double(), ab[t])
        step_mean = f if t == 1 else forward.q_sigma_mean_std(x_t, f, ab[t], ab[t - 1], float(sigma[t]))[0]
        out = step_mean.reshape(D + 2, D)
        b, M = out[0], (out[1:D + 1] - out[0]).T  # (D,), (D, D): out[1 + j] - b is column j of M
        if not torch.allclose(out[D + 1], M @ probe[D + 1] + b, rtol=1e-8, atol=1e-8 * (1 + float(out.abs().max()))):
            raise ValueError(f"eps_model is not affine in x_t at t = {t}: p_theta(x_0) is not Gaussian, use j_sigma instead")
        mean, cov = M @ mean + b, M @ cov @ M.T + float(sigma[t]) ** 2 * torch.eye(D, dtype=torch.float64, device=dev)
    return mean, cov


def affine_model_nll(eps_model, x0, alpha_bar, sigma):
    """Exact -log p_theta(x_0) per sample (B,) of eq. (10)'s chain for an eps_model affine in x_t; J_sigma (eq. 11) bounds it. notebooks/03."""
    mean, cov = affine_model_marginal(eps_model, alpha_bar, sigma, tuple(x0.shape[1:]))
    p = torch.distributions.MultivariateNormal(mean, covariance_matrix=cov)
    return -p.log_prob(x0.reshape(x0.shape[0], -1).to(torch.float64)).to(x0.dtype)


def _log_normal(x, mean, std):
    """log N(x; mean, std^2 I) per sample (B,), summed over all but the first dim; std a positive float."""
    d = x[0].numel()
    return -0.5 * (((x - mean) / std) ** 2).reshape(x.shape[0], -1).sum(1) - d * math.log(std) - 0.5 * d * math.log(2 * math.pi)


def _predictions(eps_model, x0, alpha_bar, eps, skip=None):
    """Yield (t, x_t, eps[t], eps_theta(x_t, t)) for t = 1..T with x_t = sqrt(alpha_t) x_0 + sqrt(1 - alpha_t) eps[t]."""
    ab = alpha_bar.detach().double().tolist()
    t_batch = torch.empty(x0.shape[0], dtype=torch.long, device=x0.device)
    for t in range(1, len(ab)):
        if skip is not None and bool(skip[t]):
            continue
        x_t = forward.q_sample(x0, ab[t], eps[t])  # eq. (4)
        eps_theta = eps_model(x_t, t_batch.fill_(t))
        if eps_theta.shape != x0.shape:
            raise ValueError(f"eps_model returned shape {tuple(eps_theta.shape)} for input {tuple(x0.shape)}; they must match")
        yield t, x_t, eps[t], eps_theta


def _eps_table(eps, x0, T, generator):
    shape = (T + 1,) + tuple(x0.shape)
    if eps is None:
        return torch.randn(shape, generator=generator, dtype=x0.dtype, device=x0.device)
    _check_eps(eps, shape, "eps (layout (T+1, B, ...), eps[t] for step t, eps[0] unused)")
    return eps


def _check_eps(eps, shape, name):
    if not torch.is_tensor(eps) or tuple(eps.shape) != tuple(shape):
        got = tuple(eps.shape) if torch.is_tensor(eps) else type(eps).__name__
        raise ValueError(f"{name} must be a tensor of shape {tuple(shape)}, got {got}")


def _check_sigma(sigma, alpha_bar):
    """sigma as float64 (T+1,) after checking sigma_t > 0 for t = 1..T and sigma_t^2 <= 1 - alpha_{t-1} for t >= 2."""
    T = alpha_bar.numel() - 1
    sigma = torch.as_tensor(sigma, dtype=torch.float64)
    if sigma.shape != (T + 1,):
        raise ValueError(f"sigma must have shape (T+1,) = ({T + 1},) indexed by the paper's t (see sigma_schedule), got {tuple(sigma.shape)}")
    bad = (sigma[1:] <= 0).nonzero()
    if bad.numel():
        ts = (bad[:, 0] + 1).tolist()
        hint = " (eq. 16 gives sigma_1 = 0 for every eta: pass sigma_1 > 0 to sigma_schedule)" if ts[0] == 1 else ""
        raise ValueError(
            f"Theorem 1 needs sigma_t > 0 for all t = 1..T; got sigma_t <= 0 at t = {ts[:5]}{'...' if len(ts) > 5 else ''}"
            f"{hint}; eta = 0 (DDIM) makes J_sigma infinite"
        )
    if bool((sigma[2:] ** 2 > 1 - alpha_bar[1:-1].double().to(sigma.device) + 1e-12).any()):
        raise ValueError("sigma_t^2 must not exceed 1 - alpha_{t-1} for t >= 2 (eq. 7); eta > 1 can violate this")
    return sigma


def _check_t(t, batch, T, device):
    if not torch.is_tensor(t) or t.dtype.is_floating_point or t.dtype == torch.bool or t.shape != (batch,):
        raise ValueError(f"t must be an integer tensor of shape (B,) = ({batch},) with values in 1..T, got {t!r}")
    if int(t.min()) < 1 or int(t.max()) > T:
        raise ValueError(f"t values must lie in 1..T = 1..{T} (t = 0 is data), got min {int(t.min())}, max {int(t.max())}")
    return t.long().to(device)
