"""DDIM sampling: sigma_t(eta) (eq. 16), the generalized step (eq. 12), loops over tau, inversion, slerp.

Introduced in notebooks/04 (sampling, acceleration) and notebooks/05 (ODE view, inversion,
interpolation). `alpha_bar` is the float64 table of `schedules.alpha_bars` (alpha_bar[0] = 1);
`eps_model(x_t, t)` takes the paper's t in 1..T as a LongTensor of shape (B,).

The loops compute every coefficient once, as Python floats, before the first step; each step is one
network call plus a few tensor operations (see benchmarks/sampling_overhead.py). They run under
torch.no_grad(): sampling never builds an autograd graph across its steps.
"""

import torch

from .forward import ZERO_SNR_MESSAGE, coef, direction_coef, require_x0_model, x0_from_eps
from .schedules import check_alpha_bar, check_tau


def ddim_sigma(alpha_t, alpha_prev, eta):
    """sigma_t(eta) = eta sqrt((1 - alpha_prev)/(1 - alpha_t)) sqrt(1 - alpha_t/alpha_prev), eq. (16). notebooks/04."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) and not torch.is_tensor(eta):
        raise ValueError(f"eta must be a number >= 0, got {eta!r}")
    if (eta < 0) if not torch.is_tensor(eta) else bool((eta < 0).any()):
        raise ValueError(f"eta must be >= 0 (0 = DDIM, 1 = DDPM posterior variance), got {eta}")
    return eta * ((1 - alpha_prev) / (1 - alpha_t) * (1 - alpha_t / alpha_prev)) ** 0.5


def sigma_hat(alpha_t, alpha_prev):
    """The "sigma-hat" noise std sqrt(1 - alpha_t/alpha_prev) = sqrt(beta_t) of Table 1 (DDPM's larger variance). notebooks/04."""
    return (1 - alpha_t / alpha_prev) ** 0.5


def ddim_step(x_t, eps, alpha_t, alpha_prev, sigma, noise=None, *, direction_sigma=None, generator=None, clip_x0=False,
              x0_hat=None):
    """Generalized DDIM step x_t -> x_{t-1}, eq. (12); sigma from eq. (16). Introduced in notebooks/04.

    x_{t-1} = sqrt(alpha_prev) x0_hat + sqrt(1 - alpha_prev - direction_sigma^2) eps + sigma noise,
    with x0_hat = (x_t - sqrt(1 - alpha_t) eps) / sqrt(alpha_t) (eq. 9). `direction_sigma` defaults to
    sigma; the sigma-hat variant passes sigma = sigma_hat and direction_sigma = sigma_t(eta=1)
    (appendix D.3). When sigma > 0 and `noise` is None, noise is drawn with `generator`.
    `clip_x0` clamps x0_hat to [-1, 1] (off by default, as in the official code).
    `x0_hat` replaces eq. (9) by a given prediction: needed at alpha_t = 0 (zero terminal SNR), where eq. (9)
    divides by zero and eps = x_t (see forward.require_x0_model).
    Returns (x_prev, x0_hat), both shaped like x_t.
    """
    if eps.shape != x_t.shape:
        raise ValueError(f"eps has shape {tuple(eps.shape)} but x_t has shape {tuple(x_t.shape)}; they must match")
    alpha_t, alpha_prev, sigma = (_scalar_or_coef(a, x_t) for a in (alpha_t, alpha_prev, sigma))
    direction_sigma = sigma if direction_sigma is None else _scalar_or_coef(direction_sigma, x_t)
    if x0_hat is None:
        if (alpha_t == 0) if isinstance(alpha_t, float) else bool((alpha_t == 0).any()):
            raise ValueError(ZERO_SNR_MESSAGE)  # eq. (9) would divide by sqrt(alpha_t) = 0
        x0_hat = x0_from_eps(x_t, eps, alpha_t) if torch.is_tensor(alpha_t) else (x_t - (1 - alpha_t) ** 0.5 * eps) / alpha_t**0.5
    elif x0_hat.shape != x_t.shape:
        raise ValueError(f"x0_hat has shape {tuple(x0_hat.shape)} but x_t has shape {tuple(x_t.shape)}; they must match")
    if clip_x0:
        x0_hat = x0_hat.clamp(-1, 1)
    x_prev = alpha_prev**0.5 * x0_hat + direction_coef(alpha_prev, direction_sigma) * eps
    if _is_positive(sigma):
        if noise is None:
            noise = torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
        elif noise.shape != x_t.shape:
            raise ValueError(f"noise has shape {tuple(noise.shape)} but x_t has shape {tuple(x_t.shape)}; they must match")
        x_prev = x_prev + sigma * noise
    return x_prev, x0_hat


def ddpm_step(x_t, eps, alpha_t, alpha_prev, noise=None, *, generator=None):
    """DDPM ancestral step in DDPM's own form (Ho et al. 2020, Algorithm 2, variance beta-tilde). notebooks/04.

    x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_t) eps) / sqrt(1 - beta_t) + sqrt(beta_tilde_t) noise,
    beta_t = 1 - alpha_t/alpha_prev, beta_tilde_t = (1 - alpha_prev)/(1 - alpha_t) beta_t.
    Mathematically the same map as `ddim_step` with eta = 1 (tested).
    """
    alpha_t, alpha_prev = _scalar_or_coef(alpha_t, x_t), _scalar_or_coef(alpha_prev, x_t)
    beta_t = 1 - alpha_t / alpha_prev
    beta_tilde = (1 - alpha_prev) / (1 - alpha_t) * beta_t
    mean = (x_t - beta_t / (1 - alpha_t) ** 0.5 * eps) / (1 - beta_t) ** 0.5
    if noise is None:
        noise = torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype)
    return mean + beta_tilde**0.5 * noise


@torch.no_grad()
def sample(eps_model, x_T, alpha_bar, tau, eta=0.0, generator=None, *, use_sigma_hat=False, clip_x0=False,
           callback=None, progress=False):
    """Generate x_0 from x_T by eq. (12) on tau_S > ... > tau_1 > 0 (section 4.2). notebooks/04.

    eta: 0 gives DDIM (deterministic), 1 gives DDPM's posterior variance (eq. 16).
    use_sigma_hat: the "sigma-hat" row of Table 1 (eta is then ignored): noise std sqrt(1 - alpha_t/alpha_prev),
        direction coefficient from sigma_t(eta=1) (appendix D.3), and no noise on the final step to x_0.
    callback(i, t, x, x0_hat) is called after the step that starts at t = tau_i (i counts down from S to 1):
    x is the new state x_{tau_{i-1}} (x_0 after the last step) and x0_hat the prediction made at t.
    progress: show a tqdm bar. Returns x_0 shaped like x_T.
    Zero terminal SNR (alpha_bar[tau_S] = 0): that step uses eps = x_T and x0_hat = eps_model.x0_model(x_T, t),
    which `forward.eps_model_from_v` provides (notebooks/08); a plain eps-model gets a ValueError.
    """
    T = check_alpha_bar(alpha_bar)
    tau = check_tau(tau, T)
    ab = alpha_bar.detach().cpu().double().tolist()
    ts, prevs = tau.flip(0).tolist(), [0] + tau[:-1].tolist()
    prevs.reverse()
    coefs = []  # (t, alpha_t, alpha_prev, sigma, direction_sigma) per step, computed once as floats
    for t, s in zip(ts, prevs):
        a_t, a_s = ab[t], ab[s]
        sigma_1 = ddim_sigma(a_t, a_s, 1.0)
        if use_sigma_hat:  # no noise on the last step to x_0, as in the official code's `ddpm_steps`
            coefs.append((t, a_t, a_s, sigma_hat(a_t, a_s) if s > 0 else 0.0, sigma_1))
        else:
            sigma = ddim_sigma(a_t, a_s, float(eta))
            coefs.append((t, a_t, a_s, sigma, sigma))
    x0_model = require_x0_model(eps_model) if ab[ts[0]] == 0 else None  # zero terminal SNR: only alpha_T can be 0
    x = x_T
    t_batch = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    steps = _progress(coefs, progress, "DDIM sampling")
    for i, (t, a_t, a_s, sigma, d_sigma) in zip(range(len(ts), 0, -1), steps):
        if a_t == 0:  # x_t = eps exactly (eq. 4) and eq. (9) is 0/0: x0_hat comes from the model's x0_model
            eps, x0_pred = x, x0_model(x, t_batch.fill_(t))
        else:
            eps, x0_pred = eps_model(x, t_batch.fill_(t)), None
        x, x0_hat = ddim_step(x, eps, a_t, a_s, sigma, direction_sigma=d_sigma, generator=generator, clip_x0=clip_x0,
                              x0_hat=x0_pred)
        if callback is not None:
            callback(i, t, x, x0_hat)
    return x


def sample_trajectory(eps_model, x_T, alpha_bar, tau, eta=0.0, generator=None, **kwargs):
    """Like `sample`, also returning the states x_{tau_S}..x_0 and the predictions x0_hat, each (S+1 or S, *x.shape). notebooks/08."""
    xs, x0_hats = [x_T.detach().cpu()], []

    def record(i, t, x, x0_hat):
        xs.append(x.detach().cpu())
        x0_hats.append(x0_hat.detach().cpu())

    x0 = sample(eps_model, x_T, alpha_bar, tau, eta, generator, callback=record, **kwargs)
    return x0, torch.stack(xs), torch.stack(x0_hats)


@torch.no_grad()
def ddpm_sample(eps_model, x_T, alpha_bar, generator=None, *, progress=False):
    """DDPM ancestral sampling over all T steps (Ho et al. 2020, Algorithm 2). notebooks/04."""
    T = check_alpha_bar(alpha_bar)
    ab = alpha_bar.detach().cpu().double().tolist()
    if ab[T] == 0:
        raise ValueError("alpha_bar[T] = 0 (zero terminal SNR): DDPM's Algorithm 2 divides by sqrt(1 - beta_T) = 0 there. "
                         "Use sample(model, x_T, alpha_bar, tau=1..T, eta=1.0), the same update written as eq. (12), "
                         "with a model that predicts x_0 at t = T (forward.eps_model_from_v).")
    x = x_T
    t_batch = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    for t in _progress(range(T, 0, -1), progress, "DDPM sampling"):
        eps = eps_model(x, t_batch.fill_(t))
        x = ddpm_step(x, eps, ab[t], ab[t - 1], generator=generator)
    return x


@torch.no_grad()
def encode(eps_model, x0, alpha_bar, tau, *, iters=0, progress=False):
    """Deterministic inversion x_0 -> x_{tau_S} by the eta = 0 update run forwards, 0 -> tau_1 -> ... -> tau_S. notebooks/05.

    Decoding from t to s (eq. 12, eta = 0) maps x_t to x_s = sqrt(alpha_s) x0_hat + sqrt(1 - alpha_s) eps(x_t, t).
    Inverting it exactly means solving for x_t given x_s, an implicit equation since eps is taken at x_t:

        x_t = sqrt(alpha_t / alpha_s) (x_s - sqrt(1 - alpha_s) e) + sqrt(1 - alpha_t) e,  e = eps(x_t, t).

    iters = 0 (the usual DDIM inversion): e = eps(x_s, t), the network at the state the step starts from
    with the label of the time it goes to; neither explicit nor implicit Euler, and no call needs t = 0.
    iters = K > 0: then K fixed-point iterations x_t <- RHS(eps(x_t, t)), so that `sample(..., eta=0)` on
    the same tau inverts the result as K grows (exact inversion). Network calls: S (K + 1).
    """
    T = check_alpha_bar(alpha_bar)
    tau = check_tau(tau, T)
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 0:
        raise ValueError(f"iters must be an integer >= 0 (0: the usual DDIM inversion), got {iters!r}")
    ab = alpha_bar.detach().cpu().double().tolist()
    x = x0
    t_batch = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    for s, t in _progress(list(zip([0] + tau[:-1].tolist(), tau.tolist())), progress, "DDIM encoding"):
        x_s, x_t = x, x  # x_t: the point where eps is evaluated (the start x_s for the first guess)
        for _ in range(iters + 1):
            eps = eps_model(x_t, t_batch.fill_(t))
            if eps.shape != x.shape:
                raise ValueError(f"eps_model returned shape {tuple(eps.shape)} for input {tuple(x.shape)}; they must match")
            x0_hat = (x_s - (1 - ab[s]) ** 0.5 * eps) / ab[s] ** 0.5
            x_t = ab[t] ** 0.5 * x0_hat + (1 - ab[t]) ** 0.5 * eps
        x = x_t
    return x


def standard_latents(n, shape, seed=0):
    """x_T ~ N(0, I), (n, *shape): latent k is the k-th draw of torch.Generator().manual_seed(seed), for any n. notebooks/08.

    Every sampler and solver of the course draws its x_T here, so cells with the same seed share x_T
    and can be compared pairwise (metrics.paired_difference)."""
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed))


def sample_images(model, alpha_bar, n, S, eta=0.0, spacing="uniform", seed=0, use_sigma_hat=False, batch_size=250,
                  device="cpu", progress=True, clip_x0=False, shape=None):
    """n images (n, C, H, W) from an image model by `sample` on timesteps(T, S, spacing). notebooks/04.

    shape: (C, H, W) of one image; by default model.config's (pass it for a composed eps-model, e.g. a
    guided one, that has no config). Batch by batch; x_T of image k is the k-th draw of
    torch.Generator().manual_seed(seed), so the same seed gives the same x_T for any S, eta or batch size
    (the consistency experiments and paired comparisons rely on it). The noise of eta > 0 comes from a
    generator with another seed per batch: seeding it with `seed` too would make the first noise draw
    equal to x_T itself (same seed, same stream), a correlation that is not in eq. (12) (tested).
    """
    from .schedules import timesteps

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if shape is None:
        c = model.config
        shape = (c.in_channels, c.image_size, c.image_size)
    tau = timesteps(len(alpha_bar) - 1, S, spacing)
    x_T_all = standard_latents(n, shape, seed)
    out = []
    for start in _progress(range(0, n, batch_size), progress, f"sampling S={S} eta={eta}"):
        x_T = x_T_all[start:start + batch_size].to(device)
        noise_g = torch.Generator(device=device).manual_seed(seed * 1_000_003 + start + 1)  # never `seed` itself
        with torch.no_grad():
            x0 = sample(model, x_T, alpha_bar.to(device), tau, eta=eta, generator=noise_g, use_sigma_hat=use_sigma_hat,
                        clip_x0=clip_x0)
        out.append(x0.cpu())
    return torch.cat(out)


def slerp(z0, z1, alpha):
    """Spherical interpolation between latents, per sample (used for DDIM interpolation, section 5.3). notebooks/05.

    z0, z1: (B, ...) latents; alpha: float in [0, 1] or a tensor broadcastable to (B,).
    Falls back to linear interpolation where z0 and z1 are (anti)parallel to within 1e-7.
    """
    if z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must have the same shape, got {tuple(z0.shape)} and {tuple(z1.shape)}")
    a = torch.as_tensor(alpha, dtype=z0.dtype, device=z0.device)
    if bool(((a < 0) | (a > 1)).any()):
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    flat0, flat1 = z0.reshape(z0.shape[0], -1), z1.reshape(z1.shape[0], -1)  # (B, D)
    cos = (flat0 * flat1).sum(1) / (flat0.norm(dim=1) * flat1.norm(dim=1))
    theta = torch.arccos(cos.clamp(-1, 1))  # (B,)
    a = a.reshape(-1) if a.ndim else a
    sin = torch.sin(theta)
    safe = sin.abs() > 1e-7
    w0 = torch.where(safe, torch.sin((1 - a) * theta) / torch.where(safe, sin, 1.0), 1 - a)
    w1 = torch.where(safe, torch.sin(a * theta) / torch.where(safe, sin, 1.0), a)
    shape = (-1,) + (1,) * (z0.ndim - 1)
    return w0.reshape(shape) * z0 + w1.reshape(shape) * z1


def _scalar_or_coef(a, x):
    """Keep Python numbers as floats (free in the sampling loop); check tensors against x's shape."""
    return float(a) if isinstance(a, (int, float)) else coef(a, x)


def _is_positive(sigma):
    return sigma > 0 if isinstance(sigma, float) else bool((sigma > 0).any())


def _progress(iterable, enabled, desc):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False)


def euler_sigma2_step(x_t, eps, alpha_t, alpha_prev):
    """One Euler step of the probability-flow ODE in sigma^2, eq. (15), as the paper writes it. notebooks/05.

    x_prev / sqrt(alpha_prev) = x_t / sqrt(alpha_t) + (sigma_prev^2 - sigma_t^2) / (2 sigma_t) eps, with
    sigma^2 = (1 - alpha) / alpha: the ODE d x_bar = eps / (2 sigma) d(sigma^2) stepped in sigma^2 (the paper's
    "Euler steps with respect to dt" of Song et al. 2021). DDIM's eq. (13) steps in sigma instead; the two agree
    to first order in the step, and eq. (15) removes only half of sigma_t eps on a step to alpha_prev = 1.
    """
    if eps.shape != x_t.shape:
        raise ValueError(f"eps has shape {tuple(eps.shape)} but x_t has shape {tuple(x_t.shape)}; they must match")
    alpha_t, alpha_prev = _scalar_or_coef(alpha_t, x_t), _scalar_or_coef(alpha_prev, x_t)
    sigma2_t, sigma2_prev = (1 - alpha_t) / alpha_t, (1 - alpha_prev) / alpha_prev
    return alpha_prev**0.5 * (x_t / alpha_t**0.5 + (sigma2_prev - sigma2_t) / (2 * sigma2_t**0.5) * eps)


@torch.no_grad()
def sample_euler_sigma2(eps_model, x_T, alpha_bar, tau, *, progress=False):
    """Deterministic sampling by eq. (15) (Euler steps in sigma^2) on tau_S > ... > tau_1 > 0, S network calls. notebooks/05.

    The paper's comparison scheme for DDIM (section 4.3): same ODE, same network calls, another discretisation.
    Unlike DDIM it is not exact for an eps that is constant along the step, so it does not agree with DDIM
    even on all T steps (measured in notebooks/05).
    """
    T = check_alpha_bar(alpha_bar)
    tau = check_tau(tau, T)
    ab = alpha_bar.detach().cpu().double().tolist()
    if ab[int(tau[-1])] == 0:
        raise ValueError("alpha_bar[tau_S] = 0 (zero terminal SNR): eq. (15) divides by sigma_T = infinity there")
    ts = tau.flip(0).tolist()
    x = x_T
    t_batch = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    for t, s in _progress(list(zip(ts, ts[1:] + [0])), progress, "Euler in sigma^2"):
        x = euler_sigma2_step(x, _checked_eps(eps_model(x, t_batch.fill_(t)), x), ab[t], ab[s])
    return x


@torch.no_grad()
def encode_explicit_euler(eps_model, x0, alpha_bar, tau, *, progress=False):
    """Inversion by explicit Euler steps of eq. (14) run forwards: eps at (x_s, s) on the step s -> t. notebooks/05.

    x_bar_t = x_bar_s + (sigma_t - sigma_s) eps(x_s, s), the slope at the start of the step; `encode` uses
    eps(x_s, t) instead (iters=0) or solves for eps(x_t, t) (iters=K). A network has no time s = 0 (it is trained
    on t in 1..T), so the first step 0 -> tau_1 takes eps(x_0, tau_1), as `encode` does. S network calls.
    """
    T = check_alpha_bar(alpha_bar)
    tau = check_tau(tau, T)
    ab = alpha_bar.detach().cpu().double().tolist()
    x = x0
    t_batch = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    for s, t in _progress(list(zip([0] + tau[:-1].tolist(), tau.tolist())), progress, "explicit Euler encoding"):
        eps = _checked_eps(eps_model(x, t_batch.fill_(s if s > 0 else t)), x)
        x = ab[t] ** 0.5 * (x - (1 - ab[s]) ** 0.5 * eps) / ab[s] ** 0.5 + (1 - ab[t]) ** 0.5 * eps
    return x


def _checked_eps(eps, x):
    if eps.shape != x.shape:
        raise ValueError(f"eps_model returned shape {tuple(eps.shape)} for input {tuple(x.shape)}; they must match")
    return eps
