"""Self-checks for the notebooks' exercises: `check_*(answer)` prints whether the answer is right.

Each returns True when the answer is right and False otherwise, after printing a short message
that says what is wrong (never the solution itself). Solution notebooks `assert` the result.
"""

import torch

from . import forward, samplers, schedules


def _report(ok, what, hint=""):
    print(f"Correct: {what}." if ok else f"Not yet: {what} is not right. {hint}".rstrip())
    return bool(ok)


def check_alpha_bar_from_betas(alpha_bar, betas):
    """Exercise of notebooks/00: alpha_bar (T+1,) with alpha_bar[0] = 1 and alpha_bar[t] = prod_{s<=t} (1 - beta_s)."""
    expected = schedules.alpha_bars(betas)  # (T+1,)
    a = torch.as_tensor(alpha_bar)
    if tuple(a.shape) != tuple(expected.shape):
        return _report(False, "the shape of alpha_bar",
                       f"Expected (T+1,) = ({expected.numel()},), so that index t is the paper's t; got {tuple(a.shape)}.")
    if abs(float(a[0]) - 1.0) > 1e-12:
        return _report(False, "alpha_bar[0]", "t = 0 is the data itself: no factor (1 - beta_s) has been applied yet.")
    ok = torch.allclose(a.double(), expected, rtol=1e-4, atol=1e-12)
    return _report(ok, "alpha_bar", "alpha_bar[t] must be the product of (1 - beta_s) over s = 1..t; "
                   "look for a shift by one, or use float64.")


def check_snr_crossing(t, T=1000):
    """Exercise of notebooks/01: the smallest t in 1..T with SNR(t) = alpha_t / (1 - alpha_t) < 1, linear schedule."""
    snr = schedules.snr(schedules.alpha_bars(schedules.linear_betas(T)))  # (T+1,), index t is the paper's t
    expected = int((snr[1:] < 1).nonzero()[0]) + 1
    t = int(t)
    hint = ("You are one step off: index alpha_bar by the paper's t (alpha_bar[0] = 1 is the data) "
            "and take the first t with SNR strictly below 1." if abs(t - expected) == 1 else
            "SNR(t) < 1 means alpha_t < 1/2: the noise has more variance than the signal.")
    return _report(t == expected, f"t = {t}", hint)


def check_marginal_variance(var, alpha_bar, v):
    """Exercise of notebooks/01: Var[x_t] (T+1,) under q(x_t | x_0) of eq. (4) for data of variance v (per coordinate)."""
    expected = alpha_bar.double() * v + (1 - alpha_bar.double())  # (T+1,)
    var = torch.as_tensor(var, dtype=torch.float64)
    if tuple(var.shape) != tuple(expected.shape):
        return _report(False, "the shape of the variance",
                       f"Give one value per t = 0..T, shape ({expected.numel()},); got {tuple(var.shape)}.")
    ok = torch.allclose(var, expected, rtol=1e-6, atol=1e-9)
    hint = ("At t = 0 the variance must be v (x_0 itself)." if abs(float(var[0]) - v) > 1e-9 else
            "Use the law of total variance: Var[x_t] = E[Var[x_t | x_0]] + Var[E[x_t | x_0]].")
    return _report(ok, "Var[x_t]", hint)


def check_simple_loss(loss, eps_model, x0, alpha_bar, t, eps):
    """Exercise of notebooks/06: L_simple of one batch (eq. 5 with gamma = 1), compared with objectives.simple_loss."""
    from . import objectives

    with torch.no_grad():
        expected = float(objectives.simple_loss(eps_model, x0, alpha_bar, t, eps))
    loss = float(loss)
    ok = abs(loss - expected) <= 1e-5 * max(1.0, abs(expected))
    hint = ("Build x_t = sqrt(alpha_t) x_0 + sqrt(1 - alpha_t) eps with alpha_t = alpha_bar[t] per sample, "
            "call eps_model(x_t, t), and average the squared error over the batch and the coordinates.")
    return _report(ok, "the loss", hint)


def check_q_sigma_posterior_mean(answer, x_t, x0, alpha_t, alpha_prev, sigma):
    """Exercise of notebooks/02: the mean of q_sigma(x_{t-1} | x_t, x_0), eq. (7), for the given numbers."""
    x_t, x0 = torch.as_tensor(x_t, dtype=torch.float64), torch.as_tensor(x0, dtype=torch.float64)
    expected, _ = forward.q_sigma_mean_std(x_t, x0, float(alpha_t), float(alpha_prev), float(sigma))
    answer = torch.as_tensor(answer, dtype=torch.float64)
    if answer.shape != expected.shape:
        return _report(False, "the mean of eq. (7)", f"Expected a tensor shaped like x_t {tuple(expected.shape)}, got {tuple(answer.shape)}.")
    ok = torch.allclose(answer, expected, rtol=1e-6, atol=1e-9)
    hint = ("Check which of alpha_t and alpha_{t-1} goes where: the noise that took x_0 to x_t uses alpha_t (eq. 4), "
            "the rest of eq. (7) uses alpha_{t-1} and sigma_t^2 (a variance, not a std).")
    return _report(ok, "the mean of eq. (7)", hint)


def check_sigma_eta_table(answer, alpha_bar, eta):
    """Exercise of notebooks/02: sigma_t(eta) of eq. (16) for t = 1..T on the full schedule, a tensor (T,)."""
    T = schedules.check_alpha_bar(alpha_bar)
    ab = alpha_bar.double()
    expected = samplers.ddim_sigma(ab[1:], ab[:-1], float(eta))  # (T,)
    answer = torch.as_tensor(answer, dtype=torch.float64)
    if answer.shape != (T,):
        return _report(False, "the table of sigma_t(eta)", f"Expected shape (T,) = ({T},) for t = 1..T, got {tuple(answer.shape)}.")
    ok = torch.allclose(answer, expected, rtol=1e-8, atol=1e-12)
    hint = ("Check the ratio inside each square root of eq. (16) (which alpha is on top), the factor eta outside them, "
            "and t = 1, where alpha_0 = 1.")
    return _report(ok, f"the table of sigma_t(eta = {float(eta)})", hint)


def check_theorem1_gamma_at_t(answer, alpha_bar, t, eta, sigma_1):
    """Exercise of notebooks/03: one weight gamma_t of Theorem 1 for sigma_t(eta) of eq. (16), decoder std sigma_1."""
    from . import objectives

    gamma = objectives.theorem1_gamma(alpha_bar, objectives.sigma_schedule(alpha_bar, float(eta), sigma_1=float(sigma_1)))
    expected = float(gamma[int(t)])
    ok = abs(float(answer) - expected) <= 1e-8 * abs(expected)
    hint = ("Check that sigma_t is eq. (16)'s for this eta, that the mean coefficient c_t is squared, and the factor "
            "(1 - alpha_t) / alpha_t that turns x_0 - f_theta into eps_theta - eps.")
    return _report(ok, f"gamma_{int(t)}", hint)


def check_gaussian_kl_value(answer, mean_q, std_q, mean_p, std_p):
    """Exercise of notebooks/03: KL(N(mean_q, std_q^2 I) || N(mean_p, std_p^2 I)) of one pair of vectors, a number."""
    from . import objectives

    mq, mp = torch.as_tensor(mean_q, dtype=torch.float64), torch.as_tensor(mean_p, dtype=torch.float64)
    expected = float(objectives.gaussian_kl(mq[None], float(std_q), mp[None], float(std_p))[0])
    ok = abs(float(answer) - expected) <= 1e-8 * max(1.0, abs(expected))
    hint = ("Check that the log-ratio of the stds and the -1/2 are counted once per dimension, and that the squared "
            "distance of the means is divided by twice the variance of p (the second argument).")
    return _report(ok, "the Gaussian KL", hint)


def check_ddim_step(step_fn):
    """Exercise of notebooks/04: step_fn(x_t, eps, alpha_t, alpha_prev, sigma, noise) implements eq. (12)."""
    g = torch.Generator().manual_seed(123)
    ab = schedules.alpha_bars(schedules.linear_betas(1000))
    for t, s, eta in ((500, 400, 0.0), (500, 400, 1.0), (901, 801, 0.5), (20, 0, 0.0), (20, 0, 1.0)):
        x_t, eps, noise = (torch.randn(3, 4, generator=g, dtype=torch.float64) for _ in range(3))
        a_t, a_s = float(ab[t]), float(ab[s])
        sigma = samplers.ddim_sigma(a_t, a_s, eta)
        expected, _ = samplers.ddim_step(x_t, eps, a_t, a_s, sigma, noise=noise)
        try:
            got = torch.as_tensor(step_fn(x_t.clone(), eps.clone(), a_t, a_s, sigma, noise.clone()), dtype=torch.float64)
        except Exception as e:  # noqa: BLE001 - report any failure to the student
            return _report(False, "your DDIM step", f"It raised {type(e).__name__}: {e}")
        if got.shape != expected.shape:
            return _report(False, "the shape of your x_{t-1}", f"Expected {tuple(expected.shape)}, got {tuple(got.shape)}.")
        if not torch.allclose(got, expected, atol=1e-10, rtol=1e-8):
            hint = ("Check the noise term sigma_t * noise." if eta > 0 and torch.allclose(got, expected - sigma * noise)
                    else "Check the three terms of eq. (12): sqrt(alpha_{t-1}) times the predicted x_0 (eq. 9), "
                         "sqrt(1 - alpha_{t-1} - sigma_t^2) times eps, and sigma_t times the noise.")
            return _report(False, f"your step from t={t} to {s} with eta={eta}", hint)
    return _report(True, "your DDIM step matches samplers.ddim_step for eta in {0, 0.5, 1}")


def check_uniform_tau(tau):
    """Exercise of notebooks/04: the "uniform" sub-sequence for T = 1000, S = 8 (1-based, as schedules.timesteps)."""
    expected = schedules.timesteps(1000, 8, "uniform").tolist()
    try:
        got = [int(v) for v in (tau.tolist() if torch.is_tensor(tau) else tau)]
    except (TypeError, ValueError):
        return _report(False, "tau", "Give a list or 1-D tensor of integers.")
    if len(got) != len(expected):
        return _report(False, "the number of steps", f"tau must have S = 8 elements, got {len(got)}.")
    if got == [v - 1 for v in expected]:
        return _report(False, "the offset", "The course uses 1-based t (t = 0 is data): shift the official code's values.")
    if got[0] != expected[0] or got[1] - got[0] != expected[1] - expected[0]:
        return _report(False, "the first element or the stride", "tau_1 = 1 and the stride is T // S.")
    return _report(got == expected, "tau for T = 1000, S = 8 (uniform)", "Check the last elements.")


def check_ode_sigma(sigma, alpha_t):
    """Exercise of notebooks/05: sigma = sqrt((1 - alpha_t) / alpha_t), the time variable of eq. (14)."""
    alpha_t = float(alpha_t)
    expected = ((1 - alpha_t) / alpha_t) ** 0.5
    try:
        got = float(sigma)
    except (TypeError, ValueError):
        return _report(False, "sigma", "Give one number.")
    if abs(got - expected) < 1e-9 * max(1.0, expected):
        return _report(True, f"sigma for alpha_t = {alpha_t:.4g}")
    if abs(got - expected**2) < 1e-9 * max(1.0, expected**2):
        return _report(False, "sigma", "You computed sigma^2; take the square root.")
    if abs(got - 1 / expected) < 1e-9 * max(1.0, 1 / expected):
        return _report(False, "sigma", "You inverted the ratio: sigma grows with t (alpha_t shrinks).")
    return _report(False, f"sigma for alpha_t = {alpha_t:.4g}",
                   "Use eq. (13): sigma is the coefficient of eps after dividing x_t by sqrt(alpha_t).")


def check_slerp(slerp_fn):
    """Exercise of notebooks/05: slerp_fn(z0, z1, alpha) for two 1-D vectors agrees with samplers.slerp."""
    g = torch.Generator().manual_seed(7)
    z0, z1 = torch.randn(784, generator=g, dtype=torch.float64), torch.randn(784, generator=g, dtype=torch.float64)
    for alpha in (0.0, 0.25, 0.5, 0.9, 1.0):
        expected = samplers.slerp(z0[None], z1[None], alpha)[0]
        try:
            got = torch.as_tensor(slerp_fn(z0.clone(), z1.clone(), alpha), dtype=torch.float64)
        except Exception as e:  # noqa: BLE001 - report any failure to the student
            return _report(False, "your slerp", f"It raised {type(e).__name__}: {e}")
        if got.shape != expected.shape:
            return _report(False, "the shape of your interpolant", f"Expected {tuple(expected.shape)}, got {tuple(got.shape)}.")
        if not torch.allclose(got, expected, atol=1e-9):
            lerp = (1 - alpha) * z0 + alpha * z1
            hint = ("That is linear interpolation; use the angle theta between z0 and z1." if torch.allclose(got, lerp)
                    else "Use sin((1 - alpha) theta) / sin(theta) and sin(alpha theta) / sin(theta) as weights.")
            return _report(False, f"your slerp at alpha = {alpha}", hint)
    return _report(True, "your slerp matches samplers.slerp")


def check_reconstruction_mse(mse_fn):
    """Exercise of notebooks/07: mse_fn(x0, rec) for images in [-1, 1] gives Table 2's per-dimension MSE on the [0, 1] scale."""
    from . import data

    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(5, 1, 28, 28, generator=g) * 2 - 1
    rec = (x0 + 0.1 * torch.randn(x0.shape, generator=g)).clamp(-1, 1)
    expected = float(((data.to_unit(rec) - data.to_unit(x0)) ** 2).mean())
    try:
        got = float(mse_fn(x0.clone(), rec.clone()))
    except Exception as e:  # the learner's code may fail in any way
        return _report(False, "your MSE", f"It raised {type(e).__name__}: {e}")
    if abs(got - 4 * expected) < 1e-6 * expected:
        return _report(False, "your MSE", "It is 4 times too large: map [-1, 1] to [0, 1] first, (x + 1) / 2, which halves every difference.")
    return _report(abs(got - expected) < 1e-6 * expected, "your MSE",
                   "Average the squared differences over every pixel of every image (per dimension), on the [0, 1] scale.")


def check_tweedie_posterior_mean(answer, data, x_t, t):
    """Exercise of notebooks/03: E[x_0 | x_t] = (x_t + (1 - alpha_t) grad log q_t(x_t)) / sqrt(alpha_t) (Tweedie's formula)."""
    x_t = torch.as_tensor(x_t, dtype=torch.float64)
    t = int(t)
    a = float(data.alpha_bar[t])
    eps_star = data.eps_model(x_t, torch.full((x_t.shape[0],), t, dtype=torch.long))  # independent of autograd
    score = -eps_star / (1 - a) ** 0.5
    expected = (x_t + (1 - a) * score) / a**0.5
    got, refused = _as_answer(answer, expected, "E[x_0 | x_t]", "x_t")
    if refused is not None:
        return refused
    if torch.allclose(got, expected, rtol=1e-7, atol=1e-9):
        return _report(True, f"E[x_0 | x_t] at t = {t}")
    wrong = {
        "Divide by sqrt(alpha_t): x_t = sqrt(alpha_t) x_0 + noise, so x_0 is on the scale of x_t / sqrt(alpha_t).":
            x_t + (1 - a) * score,
        "Check the sign: the score points towards higher density, and the posterior mean lies uphill from x_t.":
            (x_t - (1 - a) * score) / a**0.5,
        "The score is multiplied by the noise variance 1 - alpha_t, not by its square root.":
            (x_t + (1 - a) ** 0.5 * score) / a**0.5,
        "That is the noise prediction eps* = -sqrt(1 - alpha_t) grad log q_t, not the posterior mean of x_0.": eps_star,
    }
    for hint, candidate in wrong.items():
        if torch.allclose(got, candidate, rtol=1e-7, atol=1e-9):
            return _report(False, "E[x_0 | x_t]", hint)
    return _report(False, "E[x_0 | x_t]", "Take the gradient of data.log_prob(x, t).sum() with respect to x (torch.autograd.grad), "
                   "then apply Tweedie's formula with alpha_t = data.alpha_bar[t].")


def check_dpm_solver_pp_2m_step(x_next, x, x0_hat, x0_hat_prev, alpha_prev, alpha_now, alpha_next):
    """Exercise of notebooks/08: one DPM-Solver++(2M) step by hand (Lu et al. 2023, Algorithm 2), t_now -> t_next.

    alpha_* are the course's alpha (alpha_bar values) at t_prev > t_now > t_next; x0_hat and x0_hat_prev are the
    x_0 predictions made at t_now and t_prev. Compared with solvers.dpm_solver_pp_2m_step.
    """
    from . import solvers

    x, x0_hat, x0_hat_prev = (torch.as_tensor(v, dtype=torch.float64) for v in (x, x0_hat, x0_hat_prev))
    a_prev, a_now, a_next = float(alpha_prev), float(alpha_now), float(alpha_next)
    expected = solvers.dpm_solver_pp_2m_step(x, x0_hat, a_now, a_next, x0_hat_prev, a_prev)
    got, refused = _as_answer(x_next, expected, "x_next", "x")
    if refused is not None:
        return refused
    if torch.allclose(got, expected, rtol=1e-8, atol=1e-10):
        return _report(True, "your DPM-Solver++(2M) step")
    first_order = solvers.dpm_solver_pp_2m_step(x, x0_hat, a_now, a_next)
    if torch.allclose(got, first_order, rtol=1e-8, atol=1e-10):
        hint = ("That is the first-order (DDIM) step: it uses x0_hat alone. The multistep correction also uses "
                "x0_hat_prev, through the ratio r of the previous step in lambda to this one.")
    else:
        hint = ("Work with lambda = log(sqrt(alpha / (1 - alpha))), where alpha is the course's alpha (alpha_bar) and "
                "DPM-Solver's own alpha_t and sigma_t are sqrt(alpha) and sqrt(1 - alpha); check which step is h and "
                "which is h_prev in r, and the sign of h in the exponential.")
    return _report(False, "your DPM-Solver++(2M) step", hint)


def check_zero_terminal_snr_betas(betas_zsnr, betas):
    """Exercise of notebooks/08: `betas` (T,) rescaled to zero terminal SNR (Lin et al. 2024, Algorithm 1).

    Compared with schedules.rescale_zero_terminal_snr: sqrt(alpha_t) shifted so that sqrt(alpha_T) = 0 and scaled
    so that sqrt(alpha_1) keeps its value, then converted back to betas.
    """
    betas = torch.as_tensor(betas, dtype=torch.float64)
    expected = schedules.rescale_zero_terminal_snr(betas)  # (T,)
    try:
        got = torch.as_tensor(betas_zsnr, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return _report(False, "the rescaled betas", "Give a tensor of T betas.")
    if got.shape != expected.shape:
        return _report(False, "the shape of the rescaled betas",
                       f"Expected (T,) = ({expected.numel()},) like the betas you started from, got {tuple(got.shape)}.")
    if torch.allclose(got, expected, rtol=1e-6, atol=1e-10):
        return _report(True, "your zero-terminal-SNR betas")
    if abs(float(got[-1]) - 1.0) > 1e-9:
        hint = (f"The last beta must be exactly 1 (alpha_T = 0, no signal left at t = T); yours is {float(got[-1]):.6g}. "
                "Shift sqrt(alpha_t) by its value at t = T.")
    elif abs(float(got[0]) - float(betas[0])) > 1e-6 * float(betas[0]):
        hint = "Scale after the shift so that sqrt(alpha_1), hence beta_1, keeps its original value."
    else:
        hint = ("The map is affine in sqrt(alpha_t), the DDIM paper's sqrt(alpha_t) = sqrt(prod (1 - beta_s)), not in "
                "alpha_t or in beta_t; convert back with beta_t = 1 - alpha_t / alpha_{t-1}.")
    return _report(False, "your zero-terminal-SNR betas", hint)


def check_guided_eps_from_score(answer, mixture, x, t, y, w):
    """Exercise of notebooks/09: eps_w(x, t) = -sqrt(1 - alpha_t) grad_x log[q_t(x | y)^(1 + w) q_t(x)^(-w)] at x (B, D), one t.

    Compared with guidance.classifier_free(mixture.conditional_eps_model, y, w), the guided eps of Ho & Salimans (2021).
    """
    from . import guidance

    x = torch.as_tensor(x, dtype=torch.float64)
    t, w = int(t), float(w)
    t_batch = torch.full((x.shape[0],), t, dtype=torch.long)
    cond, uncond = mixture.conditional_eps_model(x, t_batch, y), mixture.conditional_eps_model(x, t_batch, None)
    expected = guidance.classifier_free(mixture.conditional_eps_model, y, w)(x, t_batch)
    got, refused = _as_answer(answer, expected, "the guided eps", "x")
    if refused is not None:
        return refused
    if torch.allclose(got, expected, rtol=1e-7, atol=1e-9):
        return _report(True, f"the guided eps at t = {t}, w = {w:g}")
    a = float(mixture.alpha_bar[t])
    wrong = {
        "That is the score of the sharpened density; convert it to a noise prediction with eps = -sqrt(1 - alpha_t) * score.":
            -expected / (1 - a) ** 0.5,
        "Check the sign: eps points away from higher density, eps = -sqrt(1 - alpha_t) * score.": -expected,
        "The score is multiplied by sqrt(1 - alpha_t), the noise's standard deviation, not by its variance 1 - alpha_t.":
            expected * (1 - a) ** 0.5,
        "That is the conditional eps alone (w = 0): the exponent of q_t(x | y) is 1 + w and that of q_t(x) is -w.": cond,
        "You used the exponents w and 1 - w (the guidance scale s = 1 + w of diffusers, read as w): "
        "the exponent of q_t(x | y) is 1 + w and that of q_t(x) is -w.": w * cond + (1 - w) * uncond,
    }
    for hint, candidate in wrong.items():
        if torch.allclose(got, candidate, rtol=1e-7, atol=1e-9):
            return _report(False, "the guided eps", hint)
    return _report(False, "the guided eps", "Differentiate (1 + w) mixture.class_log_prob(x, y, t) - w mixture.log_prob(x, t), "
                   "summed over the batch, with torch.autograd.grad, then multiply by -sqrt(1 - alpha_t).")


def check_fixed_point_inversion_step(step_fn):
    """Exercise of notebooks/09: step_fn(eps_model, x_s, s, t, alpha_bar, K) is one step s -> t of samplers.encode(..., iters=K).

    Checked on a guided eps-model of a labelled GaussianMixture for K = 0, 1, 3, 10 against samplers.encode on tau = (s, t).
    """
    from . import analytic, guidance

    ab = schedules.alpha_bars(schedules.linear_betas(1000))
    f64 = torch.float64
    mix = analytic.GaussianMixture(torch.tensor([0.3, 0.3, 0.4], dtype=f64), torch.tensor([[-1.5, 0.0], [1.0, 1.0], [0.5, -1.2]], dtype=f64),
                                   torch.stack([0.2 * torch.eye(2, dtype=f64)] * 3), ab, labels=[0, 1, 1])
    model = guidance.classifier_free(mix.conditional_eps_model, 0, 1.5)
    x0 = mix.given(0).sample(6, torch.Generator().manual_seed(11))
    s, t = 120, 200
    for K in (0, 1, 3, 10):
        x_s = samplers.encode(model, x0, ab, torch.tensor([s]), iters=K)
        expected = samplers.encode(model, x0, ab, torch.tensor([s, t]), iters=K)
        try:
            got = torch.as_tensor(step_fn(model, x_s.clone(), s, t, ab, K), dtype=f64)
        except Exception as e:  # noqa: BLE001 - report any failure to the student
            return _report(False, "your inversion step", f"It raised {type(e).__name__}: {e}")
        if got.shape != expected.shape:
            return _report(False, "the shape of your x_t", f"Expected {tuple(expected.shape)} like x_s, got {tuple(got.shape)}.")
        if torch.allclose(got, expected, rtol=1e-9, atol=1e-11):
            continue
        neighbours = {k: _encode_step(model, x_s, ab, s, t, k) for k in (K - 1, K + 1) if k >= 0}
        if any(torch.allclose(got, v, rtol=1e-9, atol=1e-11) for v in neighbours.values()):
            hint = ("You are one iteration off: iters = K means the usual step (eps at x_s) followed by K updates "
                    "x_t <- RHS(eps(x_t, t)), K + 1 network calls in all.")
        elif K > 0 and torch.allclose(got, _encode_step(model, x_s, ab, s, t, 0), rtol=1e-9, atol=1e-11):
            hint = "That is the usual step: evaluate eps again at the new x_t (with the label t) in each of the K iterations."
        else:
            hint = ("Solve x_t = sqrt(alpha_t / alpha_s) (x_s - sqrt(1 - alpha_s) e) + sqrt(1 - alpha_t) e with e = eps(x_t, t): "
                    "start from x_t = x_s and always call the model with the label t (the time the step goes to).")
        return _report(False, f"your inversion step with K = {K}", hint)
    return _report(True, "your fixed-point inversion step matches samplers.encode(..., iters=K) for K = 0, 1, 3, 10")


def _encode_step(model, x_s, ab, s, t, K):
    """One encoder step s -> t with K fixed-point iterations (editing.encoder_step), for the hints above."""
    from .editing import encoder_step

    return encoder_step(model, x_s, ab.detach().cpu().double().tolist(), s, t, K)


def _as_answer(answer, expected, what, like):
    """(the answer as a float64 tensor, None), or (None, the failed report) when it is no tensor or has the wrong shape."""
    try:
        got = torch.as_tensor(answer, dtype=torch.float64).detach()
    except (TypeError, ValueError, RuntimeError):
        return None, _report(False, what, f"Give a tensor shaped like {like}.")
    if got.shape != expected.shape:
        return None, _report(False, f"the shape of {what}", f"Expected {tuple(expected.shape)} like {like}, got {tuple(got.shape)}.")
    return got, None
