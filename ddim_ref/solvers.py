"""ODE solvers for the DDIM ODE (eq. 14): DDIM = DPM-Solver-1, Heun, DPM-Solver-2, DPM-Solver++(2M). notebooks/08.

Every solver is a pure function with one signature, in the flat style of k-diffusion's `sample_*`:

    x_0 = solver(eps_model, x_T, alpha_bar, tau, *, progress=False)

It visits tau_S > ... > tau_1 and ends at t = 0 like `samplers.sample`, checks its inputs the same way,
computes its coefficients once as Python floats before the loop, and runs under torch.no_grad().
Each docstring states the number of network calls (NFE) in terms of S = len(tau); `count_calls` checks it.

Notation. a_t = alpha_bar[t] is the DDIM paper's alpha_t. The solvers use two other clocks:

    sigma_t  = sqrt((1 - a_t) / a_t)    DDIM eq. (14), Karras et al. (2022): x_bar = x / sqrt(a_t) obeys
                                        dx_bar/dsigma = eps(x_t, t), and sigma = 0 at t = 0 (data);
    lambda_t = log(sqrt(a_t / (1 - a_t))) = -log(sigma_t)   Lu et al. (2022): half the log-SNR,
                                        +inf at t = 0 and -inf where a_t = 0 (zero terminal SNR).

DPM-Solver's alpha_t and sigma_t are our sqrt(a_t) and sqrt(1 - a_t). For a step t -> s (s < t, so
h = lambda_s - lambda_t > 0) the ODE has the exact "variation of constants" solutions
    x_s = sqrt(a_s / a_t) x_t - sqrt(a_s) int_{lambda_t}^{lambda_s} e^{-lambda} eps dlambda           (Lu et al. 2022, eq. 3.4)
        = sqrt((1 - a_s) / (1 - a_t)) x_t + sqrt(1 - a_s) int_{lambda_t}^{lambda_s} e^{lambda} x0 dlambda  (Lu et al. 2023),
and freezing eps (or x0) over the step gives DDIM's update in both cases.

Zero terminal SNR (a_T = 0, `schedules.rescale_zero_terminal_snr`): at t = T, x_T = eps and only a model with an
`x0_model` method (`forward.eps_model_from_v`) can predict x_0. Every solver then takes its first step from T as
the DDIM step x_s = sqrt(a_s) x0_hat + sqrt(1 - a_s) x_T (sigma_T and lambda_T are infinite, so the
second-order corrections are undefined there); a plain eps-model gets a ValueError.
"""

import math

import torch

from .forward import require_x0_model
from .samplers import _progress, sample
from .schedules import check_alpha_bar, check_tau


def count_calls(eps_model):
    """Wrap eps_model so that `.calls` counts the network evaluations (NFE), its `x0_model` included. notebooks/08."""

    def counted(x_t, t):
        counted.calls += 1
        return eps_model(x_t, t)

    counted.calls = 0
    x0_model = getattr(eps_model, "x0_model", None)
    if callable(x0_model):

        def counted_x0(x_t, t):
            counted.calls += 1
            return x0_model(x_t, t)

        counted.x0_model = counted_x0
    return counted


def lambdas(alpha_bar):
    """lambda_t = log(sqrt(alpha_t / (1 - alpha_t))) for t = 0..T, float64 (T+1,) (Lu et al. 2022, sec. 3). notebooks/08.

    +inf at t = 0 (data) and -inf at t = T under zero terminal SNR.
    """
    check_alpha_bar(alpha_bar)
    ab = alpha_bar.detach().to(torch.float64)
    return 0.5 * (ab.log() - torch.log1p(-ab))  # (T+1,); log(0) = -inf where alpha_T = 0


def ddim(eps_model, x_T, alpha_bar, tau, *, progress=False):
    """DDIM (eq. 12, eta = 0): DPM-Solver-1, the first-order exponential integrator in lambda (Lu et al. 2022, sec. 3). notebooks/08.

    Freezing eps over a step in eq. (3.4) of Lu et al. gives x_s = sqrt(a_s) x0_hat + sqrt(1 - a_s) eps, exactly
    DDIM's update; so this is `samplers.sample(..., eta=0)`. NFE = S.
    """
    return sample(eps_model, x_T, alpha_bar, tau, eta=0.0, progress=progress)


@torch.no_grad()
def heun(eps_model, x_T, alpha_bar, tau, *, progress=False):
    """Heun's method on dx_bar/dsigma = eps (DDIM eq. 14; Karras et al. 2022, Algorithm 1, deterministic). notebooks/08.

    On the grid sigma_{tau_S} > ... > sigma_{tau_1} > sigma_0 = 0: an Euler step (= DDIM) predicts x_bar at the next
    grid point (an integer t, so the network sees only its own times), a second call there gives the slope at the
    end, and the step is redone with the average slope (trapezoidal rule). The last step to sigma = 0 stays
    Euler (k-diffusion's `sample_heun`). NFE = 2S - 1; 2S - 2 when S >= 2 and a_{tau_S} = 0 (zero terminal SNR,
    first step by DDIM from the model's x0 prediction, see the module docstring).
    """
    T = check_alpha_bar(alpha_bar)
    tau = check_tau(tau, T)
    ab = alpha_bar.detach().cpu().double().tolist()
    ts = tau.flip(0).tolist()
    steps = [(t, s, _sigma(ab[t]), _sigma(ab[s]), ab[t] ** 0.5, ab[s] ** 0.5) for t, s in zip(ts, ts[1:] + [0])]
    x0_model = require_x0_model(eps_model) if ab[ts[0]] == 0 else None
    t_batch = torch.empty(x_T.shape[0], dtype=torch.long, device=x_T.device)
    x_bar = x_T / ab[ts[0]] ** 0.5 if x0_model is None else None  # (B, ...) x_bar = x / sqrt(a_t)
    for t, s, sigma_t, sigma_s, sqrt_a_t, sqrt_a_s in _progress(steps, progress, "Heun"):
        if sigma_t == math.inf:  # a_T = 0: x_bar is undefined; DDIM step x_bar_s = x0_hat + sigma_s eps with eps = x_T
            x_bar = _checked(x0_model(x_T, t_batch.fill_(t)), x_T, "x0_model") + sigma_s * x_T
            continue
        d = _eps(eps_model, sqrt_a_t * x_bar, t_batch.fill_(t))  # (B, ...) slope dx_bar/dsigma at sigma_t
        x_bar_next = x_bar + (sigma_s - sigma_t) * d  # Euler step = DDIM step
        if s > 0:
            d_next = _eps(eps_model, sqrt_a_s * x_bar_next, t_batch.fill_(s))  # slope at the predicted end point
            x_bar_next = x_bar + (sigma_s - sigma_t) * (d + d_next) / 2  # trapezoidal rule
        x_bar = x_bar_next
    return x_bar  # a_0 = 1: x_0 = x_bar


@torch.no_grad()
def dpm_solver_2(eps_model, x_T, alpha_bar, tau, *, progress=False):
    """Single-step DPM-Solver-2 in noise-prediction form (Lu et al. 2022, Algorithm 1, r1 = 0.5). notebooks/08.

    Each step t -> s (h = lambda_s - lambda_t) evaluates eps at x_t and at an intermediate point u, the DDIM step
    from x_t to a time s1 between them, and corrects the DDIM step to s:
        x_s = sqrt(a_s) x0_hat + sqrt(1 - a_s) eps_t - sqrt(1 - a_s) (e^h - 1) / (2 r1) (eps(u, s1) - eps_t).
    The network only takes integer t, so s1 is the integer in s..t whose lambda is nearest to lambda_t + h/2, and
    the update uses its exact r1 = (lambda_{s1} - lambda_t) / h (still second order for r1 in (0, 1)). When that
    integer is an endpoint (s and t adjacent, or very close in lambda) the step is first order (DDIM).
    The last step, into t = 0, is a DDIM step: lambda_0 = +inf makes h infinite, and the DDIM step is the limit of
    DPM-Solver-1 there; the official code likewise stops at its smallest time and, with `denoise_to_zero`,
    returns the x0 prediction there, which is this step. The same first-order step starts from a_T = 0.
    NFE = 2S - 1 - k, k = the number of steps t -> s > 0 taken at first order (rounded midpoint on an endpoint,
    or the start from a_T = 0); k = 0 when all gaps of tau are wide.
    """
    T = check_alpha_bar(alpha_bar)
    tau = check_tau(tau, T)
    ab = alpha_bar.detach().cpu().double().tolist()
    lam = [_lambda(a) for a in ab]  # (T+1,) floats
    ts = tau.flip(0).tolist()
    steps = []  # (t, s, s1 or None, correction coefficient sqrt(1 - a_s) (e^h - 1) / (2 r1)), computed once
    for t, s in zip(ts, ts[1:] + [0]):
        s1, c = None, 0.0
        if s > 0 and ab[t] > 0:
            h = lam[s] - lam[t]
            s1 = min(range(s, t + 1), key=lambda u: abs(lam[u] - (lam[t] + 0.5 * h)))  # nearest in lambda
            if s1 in (s, t):
                s1 = None  # no integer strictly between: first-order step
            else:
                r1 = (lam[s1] - lam[t]) / h
                c = (1 - ab[s]) ** 0.5 * math.expm1(h) / (2 * r1)
        steps.append((t, s, s1, c))
    x0_model = require_x0_model(eps_model) if ab[ts[0]] == 0 else None
    x = x_T
    t_batch = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    for t, s, s1, c in _progress(steps, progress, "DPM-Solver-2"):
        eps, x0_hat = _predict(eps_model, x0_model, x, t_batch.fill_(t), ab[t])  # (B, ...) each
        x_next = ab[s] ** 0.5 * x0_hat + (1 - ab[s]) ** 0.5 * eps  # DPM-Solver-1 = DDIM step to s
        if s1 is not None:
            u = ab[s1] ** 0.5 * x0_hat + (1 - ab[s1]) ** 0.5 * eps  # DDIM step to s1
            eps_s1 = _eps(eps_model, u, t_batch.fill_(s1))
            x_next = x_next - c * (eps_s1 - eps)
        x = x_next
    return x


@torch.no_grad()
def dpm_solver_pp_2m(eps_model, x_T, alpha_bar, tau, *, progress=False):
    """Multistep DPM-Solver++(2M) with data prediction x0_hat (Lu et al. 2023, Algorithm 2). notebooks/08.

    Each step reuses the previous x0 prediction: D = (1 + 1/(2r)) x0_hat - 1/(2r) x0_hat_prev, r = h_prev / h, and
        x_s = sqrt((1 - a_s) / (1 - a_t)) x_t + sqrt(a_s) (1 - e^{-h}) D     (`dpm_solver_pp_2m_step`),
    which is DDIM's update with x0_hat replaced by the extrapolation D. The first step is first order (no
    previous prediction), and so is the last, into t = 0 (lambda = +inf makes r = 0 and 1/(2r) infinite): it
    returns x0_hat at tau_1, as the official code and diffusers' `lower_order_final` do. After a start from
    a_T = 0 (h_prev = inf) the second step is first order too. NFE = S.
    """
    T = check_alpha_bar(alpha_bar)
    tau = check_tau(tau, T)
    ab = alpha_bar.detach().cpu().double().tolist()
    ts = tau.flip(0).tolist()
    prevs, nexts = [None] + ts[:-1], ts[1:] + [0]
    steps = []  # (t, x coefficient, D coefficient, w = 1/(2r)), computed once
    for t_prev, t, s in zip(prevs, ts, nexts):
        first_order = t_prev is None or s == 0
        steps.append((t, *_pp_2m_coefs(None if first_order else ab[t_prev], ab[t], ab[s])))
    x0_model = require_x0_model(eps_model) if ab[ts[0]] == 0 else None
    x, x0_prev = x_T, None
    t_batch = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    for t, c_x, c_d, w in _progress(steps, progress, "DPM-Solver++(2M)"):
        _, x0_hat = _predict(eps_model, x0_model, x, t_batch.fill_(t), ab[t])  # (B, ...)
        D = x0_hat if w == 0 else (1 + w) * x0_hat - w * x0_prev
        x = c_x * x + c_d * D
        x0_prev = x0_hat
    return x


def dpm_solver_pp_2m_step(x, x0_hat, alpha_now, alpha_next, x0_hat_prev=None, alpha_prev=None):
    """One DPM-Solver++(2M) step from t_now to t_next (Lu et al. 2023, Algorithm 2); first order without x0_hat_prev. notebooks/08.

    alpha_* are the DDIM paper's alpha (alpha_bar values) at t_prev > t_now > t_next; lambda = log(sqrt(alpha / (1 - alpha))),
    h = lambda_next - lambda_now, r = (lambda_now - lambda_prev) / h, D = (1 + 1/(2r)) x0_hat - 1/(2r) x0_hat_prev and
    x_next = sqrt((1 - alpha_next) / (1 - alpha_now)) x - sqrt(alpha_next) (e^{-h} - 1) D.
    """
    if (x0_hat_prev is None) != (alpha_prev is None):
        raise ValueError("give both x0_hat_prev and alpha_prev (second order) or neither (first order)")
    c_x, c_d, w = _pp_2m_coefs(None if alpha_prev is None else float(alpha_prev), float(alpha_now), float(alpha_next))
    D = x0_hat if w == 0 else (1 + w) * x0_hat - w * x0_hat_prev
    return c_x * x + c_d * D


def _pp_2m_coefs(a_prev, a_now, a_next):
    """(sqrt((1 - a_next)/(1 - a_now)), sqrt(a_next)(1 - e^{-h}), 1/(2r)) of a DPM-Solver++(2M) step; 1/(2r) = 0 if a_prev is None."""
    h = _lambda(a_next) - _lambda(a_now)
    if a_prev is not None and a_next >= 1:
        raise ValueError("the step into t = 0 (alpha_next = 1, lambda = +inf) must be first order: 1/(2r) is infinite there")
    if not h > 0:
        raise ValueError(f"a DPM-Solver++ step needs alpha_next > alpha_now (lambda must grow), got {a_now} -> {a_next}")
    c_x = ((1 - a_next) / (1 - a_now)) ** 0.5
    c_d = a_next**0.5 * -math.expm1(-h)  # exp(-inf) = 0 at a_next = 1 or a_now = 0
    w = 0.0 if a_prev is None else h / (2 * (_lambda(a_now) - _lambda(a_prev)))  # 1/(2r), r = h_prev / h; 0 if h_prev = inf
    return c_x, c_d, w


def _lambda(a):
    """lambda = log(sqrt(a / (1 - a))) of one alpha_bar value, as a float: +inf at a = 1, -inf at a = 0."""
    if a >= 1:
        return math.inf
    if a <= 0:
        return -math.inf
    return 0.5 * (math.log(a) - math.log1p(-a))


def _sigma(a):
    """sigma = sqrt((1 - a) / a) of DDIM eq. (14) as a float; inf at a = 0."""
    return math.inf if a == 0 else ((1 - a) / a) ** 0.5


def _eps(eps_model, x, t_batch):
    """eps_model(x, t) after checking its shape against x."""
    return _checked(eps_model(x, t_batch), x, "eps")


def _checked(out, x, name):
    if out.shape != x.shape:
        raise ValueError(f"{name} has shape {tuple(out.shape)} but x_t has shape {tuple(x.shape)}; they must match")
    return out


def _predict(eps_model, x0_model, x, t_batch, a_t):
    """(eps, x0_hat) at x_t: eps from the model and x0_hat by eq. (9); at a_t = 0, eps = x_t (eq. 4) and x0_hat from x0_model."""
    if a_t == 0:
        return x, _checked(x0_model(x, t_batch), x, "x0_model")
    eps = _eps(eps_model, x, t_batch)
    return eps, (x - (1 - a_t) ** 0.5 * eps) / a_t**0.5
