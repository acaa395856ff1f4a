"""ODE solvers (notebooks/08): convergence orders on the exact Gaussian flow, exactness, NFE, zero terminal SNR with v-models.

For Gaussian data N(m, Sigma) and the exact eps*, the DDIM ODE dx_bar/dsigma = eps (x_bar = x / sqrt(alpha_t),
sigma = sqrt((1 - alpha_t)/alpha_t), DDIM eq. 14) reads, in the eigenbasis Sigma = U diag(lam) U^T,
    eps* = sigma (Sigma + sigma^2 I)^{-1} (x_bar - m),  so  dy_i/dsigma = sigma / (lam_i + sigma^2) y_i,  y = U^T (x_bar - m),
whose solution is y_i(sigma) = y_i(sigma0) sqrt((lam_i + sigma^2) / (lam_i + sigma0^2)): the exact reference below.
"""

import math

import numpy as np
import pytest
import torch

from ddim_ref import analytic, checks, forward, samplers, schedules, solvers

T = 1000
ALPHA_BAR = schedules.alpha_bars(schedules.linear_betas(T))
MEAN = torch.tensor([0.5, -0.3], dtype=torch.float64)
COV = torch.tensor([[0.30, 0.12], [0.12, 0.20]], dtype=torch.float64)
SOLVERS = ["ddim", "heun", "dpm_solver_2", "dpm_solver_pp_2m"]
ORDER = {"ddim": 1, "heun": 2, "dpm_solver_2": 2, "dpm_solver_pp_2m": 2}


def exact_flow(x, cov, alpha_bar, t_from, t_to):
    """The exact DDIM-ODE map x_{t_from} -> x_{t_to} for N(MEAN, cov) data (module docstring)."""
    lam, U = torch.linalg.eigh(cov)
    a0, a1 = float(alpha_bar[t_from]), float(alpha_bar[t_to])
    s0, s1 = (1 - a0) / a0, (1 - a1) / a1  # sigma^2
    y = (x / a0**0.5 - MEAN) @ U  # (B, D)
    return a1**0.5 * (MEAN + (y * ((lam + s1) / (lam + s0)).sqrt()) @ U.T)


def test_exact_flow_solves_the_ode():
    """The closed form above satisfies dx_bar/dsigma = eps* (central difference in sigma)."""
    data = analytic.Gaussian(MEAN, COV, ALPHA_BAR)
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    t = 300
    a = float(ALPHA_BAR[t])
    sigma = ((1 - a) / a) ** 0.5

    def x_bar_at(s):  # exact x_bar at ODE time s, started from x at t
        lam, U = torch.linalg.eigh(COV)
        y = (x / a**0.5 - MEAN) @ U
        return MEAN + (y * ((lam + s**2) / (lam + sigma**2)).sqrt()) @ U.T

    d = 1e-5
    slope = (x_bar_at(sigma + d) - x_bar_at(sigma - d)) / (2 * d)
    torch.testing.assert_close(slope, data.eps_model(x, torch.full((5,), t)), rtol=1e-8, atol=1e-9)


# Convergence orders. Every solver ends with the same first-order step from tau_1 to t = 0 (as the reference
# implementations do); on "linspace" grids tau_1 = 1 for every S, so that step adds an error that does not shrink
# with S, about sigma_1^2 |x_bar''| / 2 ~ 1e-4 / sqrt(lam). The data are therefore wide (COV * 16, std ~ 2: the
# floor is ~1e-4) and S stops at 160, where the second-order errors are still several times the floor (asserted).
# S starts at 20: below, DPM-Solver++(2M)'s steps in lambda near t = 0 (lambda_1 = 4.6) are too long for the
# asymptotic regime. On these grids consecutive times are >= 6 apart, so DPM-Solver-2 always finds an integer
# midpoint; its actual r1 ranges in about (0.3, 0.7), which changes the error constant, not the order.
WIDE = COV * 16
CONVERGENCE_S = [20, 40, 80, 160]


def convergence_errors(name):
    data = analytic.Gaussian(MEAN, WIDE, ALPHA_BAR)
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    exact = exact_flow(x_T, WIDE, ALPHA_BAR, T, 0)
    solver = getattr(solvers, name)
    return [float((solver(data.eps_model, x_T, ALPHA_BAR, schedules.timesteps(T, S, "linspace")) - exact).norm(dim=1).max())
            for S in CONVERGENCE_S]


@pytest.mark.parametrize("name", SOLVERS)
def test_global_error_falls_at_the_order_of_the_method(name):
    errs = convergence_errors(name)
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    slope = float(np.polyfit(np.log(CONVERGENCE_S), np.log(errs), 1)[0])
    assert abs(slope + ORDER[name]) < 0.3, f"{name}: fitted log-log slope {slope:.2f}, expected -{ORDER[name]}"
    data = analytic.Gaussian(MEAN, WIDE, ALPHA_BAR)  # the floor: the last step alone, from the exact x_1
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x_1 = exact_flow(x_T, WIDE, ALPHA_BAR, T, 1)
    last_step = solvers.ddim(data.eps_model, x_1, ALPHA_BAR, torch.tensor([1]))
    floor = float((last_step - exact_flow(x_T, WIDE, ALPHA_BAR, T, 0)).norm(dim=1).max())
    assert errs[-1] > 5 * floor, (errs[-1], floor)


def test_ddim_is_samplers_sample_with_eta0():
    x_T = torch.randn(7, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model = lambda x, t: 0.3 * x * (t.double() / T)[:, None] + 0.1  # noqa: E731 - any deterministic model
    tau = schedules.timesteps(T, 13, "quadratic")
    torch.testing.assert_close(solvers.ddim(model, x_T, ALPHA_BAR, tau), samplers.sample(model, x_T, ALPHA_BAR, tau, eta=0.0),
                               rtol=0, atol=0)


def constant_x0_model(c, alpha_bar=ALPHA_BAR):
    """eps(x_t, t) = (x_t - sqrt(alpha_t) c) / sqrt(1 - alpha_t): the x0 prediction is c everywhere."""
    def eps_model(x, t):
        a = forward.append_dims(alpha_bar[t], x.ndim)
        return (x - a.sqrt() * c) / (1 - a).sqrt()
    return eps_model


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.parametrize("tau", [schedules.timesteps(T, 7, "linspace"), schedules.timesteps(T, 3, "trailing"),
                                 torch.tensor([1, 2, 3, 50, 51, 400]), torch.tensor([600])])
def test_exact_when_the_x0_prediction_is_constant(name, tau):
    """x0_hat = c along the path makes the ODE's solution x_bar(sigma) = c + sigma eps with eps constant too (DDIM eq. 14):
    DDIM (frozen eps or x0), Heun (linear x_bar in sigma), DPM-Solver-2 (its correction multiplies eps(u) - eps = 0) and
    DPM-Solver++(2M) (D = c) are all exact and return c from any x_T. The grid with gaps of 1 exercises DPM-Solver-2's
    first-order fallback."""
    c = torch.tensor([0.7, -1.2], dtype=torch.float64)
    x_T = torch.randn(5, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = getattr(solvers, name)(constant_x0_model(c), x_T, ALPHA_BAR, tau)
    torch.testing.assert_close(out, c.expand(5, 2), rtol=0, atol=1e-10)


def ode_sigma(t, alpha_bar=ALPHA_BAR):
    a = float(alpha_bar[t])
    return ((1 - a) / a) ** 0.5


def test_heun_is_the_trapezoidal_rule_and_ddim_is_euler_in_sigma():
    """For a model that ignores x with eps affine in sigma, eps = e0 + e1 sigma, the ODE is a quadrature:
    x_bar(0) = x_bar_T - e0 sigma_T - e1 sigma_T^2 / 2. Heun's trapezoidal rule is exact for a linear slope, so its
    only error is the final Euler step on [0, sigma_1]: -e1 sigma_1^2 / 2. DDIM (Euler in sigma) errs by
    -e1 (sigma_t - sigma_s)^2 / 2 on every step."""
    e0, e1 = torch.tensor([0.3, -0.2], dtype=torch.float64), torch.tensor([0.02, 0.05], dtype=torch.float64)
    sig = torch.tensor([ode_sigma(t) if t > 0 else 0.0 for t in range(T + 1)], dtype=torch.float64)
    model = lambda x, t: (e0 + e1 * sig[t][:, None]).to(x.dtype)  # noqa: E731
    x_T = torch.randn(4, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    tau = schedules.timesteps(T, 9, "linspace")
    sigma_T = ode_sigma(T)
    exact = x_T / float(ALPHA_BAR[T]) ** 0.5 - e0 * sigma_T - e1 * sigma_T**2 / 2
    s1 = ode_sigma(int(tau[0]))
    torch.testing.assert_close(solvers.heun(model, x_T, ALPHA_BAR, tau), exact - e1 * s1**2 / 2, rtol=1e-12, atol=1e-10)
    grid = [ode_sigma(t) for t in tau.flip(0).tolist()] + [0.0]
    ddim_error = -e1 / 2 * sum((a - b) ** 2 for a, b in zip(grid, grid[1:]))
    torch.testing.assert_close(solvers.ddim(model, x_T, ALPHA_BAR, tau), exact + ddim_error, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("tau", [schedules.timesteps(T, 10, "linspace"), schedules.timesteps(T, 30, "quadratic")])
def test_dpm_solver_2_uses_the_actual_r1_of_its_integer_midpoint(tau):
    """For eps = e0 + e1 lambda (ignoring x), eq. (3.4) of Lu et al. is a quadrature, and a DPM-Solver-2 step with any
    midpoint s1 adds sigma_s (e^h - 1) (eps(s1) - eps_t) / (2 r1) = sqrt(1 - a_s) (e^h - 1) h e1 / 2: the midpoint
    drops out *if* r1 is the actual (lambda_{s1} - lambda_t) / h of the rounded integer s1 (with a nominal r1 = 1/2 it
    would not). Against the exact integral each step then errs by sqrt(1 - a_s) e1 [(e^h - 1 - h) - (e^h - 1) h / 2],
    carried to t = 0 by the factor 1/sqrt(a_s), and the last DDIM step from tau_1 errs by e^{-lambda_1} e1."""
    lam = solvers.lambdas(ALPHA_BAR)  # (T+1,)
    e0, e1 = torch.tensor([0.3, -0.2], dtype=torch.float64), torch.tensor([0.02, -0.05], dtype=torch.float64)
    model = lambda x, t: (e0 + e1 * lam[t][:, None]).to(x.dtype)  # noqa: E731
    x_T = torch.randn(3, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)  # at t = tau_S
    ts = tau.flip(0).tolist()
    lam_S = float(lam[ts[0]])
    exact = x_T / float(ALPHA_BAR[ts[0]]) ** 0.5 - math.exp(-lam_S) * (e0 + e1 * (lam_S + 1))  # int_{lam_S}^inf e^{-l} eps dl
    error = math.exp(-float(lam[ts[-1]])) * e1  # the last step, into t = 0
    for t, s in zip(ts, ts[1:]):
        h = float(lam[s] - lam[t])
        step = (1 - float(ALPHA_BAR[s])) ** 0.5 * ((math.expm1(h) - h) - math.expm1(h) * h / 2)
        error = error + step / float(ALPHA_BAR[s]) ** 0.5 * e1
    torch.testing.assert_close(solvers.dpm_solver_2(model, x_T, ALPHA_BAR, tau), exact + error, rtol=1e-10, atol=1e-10)


def test_dpm_solver_pp_2m_step_local_error():
    """For x0_hat = c0 + c1 lambda (ignoring x), the exact solution in data-prediction form gives the step t -> s
    x_s = sqrt((1 - a_s)/(1 - a_t)) x_t + sqrt(a_s) [(1 - e^{-h}) x0_t + (h - 1 + e^{-h}) c1]. Algorithm 2 integrates
    the same linear model with the weight (1 - e^{-h}) h / 2 instead of (h - 1 + e^{-h}): it is NOT exact for x0 linear
    in lambda (the official code's "taylor" variant would be); what holds exactly is this O(h^3) residual, for
    unequal steps h_prev != h (a wrong r = h / h_prev would change it). The first-order step errs at O(h^2)."""
    c0, c1 = torch.tensor([0.4, -0.1], dtype=torch.float64), torch.tensor([0.03, 0.08], dtype=torch.float64)
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    lam = solvers.lambdas(ALPHA_BAR).tolist()
    for t_prev, t, s in [(700, 500, 420), (350, 300, 200), (40, 25, 10)]:
        a_prev, a_t, a_s = (float(ALPHA_BAR[u]) for u in (t_prev, t, s))
        h = lam[s] - lam[t]
        x0_t, x0_prev = c0 + c1 * lam[t], c0 + c1 * lam[t_prev]
        exact = ((1 - a_s) / (1 - a_t)) ** 0.5 * x + a_s**0.5 * (-math.expm1(-h) * x0_t + (h + math.expm1(-h)) * c1)
        second = solvers.dpm_solver_pp_2m_step(x, x0_t, a_t, a_s, x0_prev, a_prev)
        residual = a_s**0.5 * (-math.expm1(-h) * h / 2 - (h + math.expm1(-h))) * c1
        torch.testing.assert_close(second - exact, residual.expand(3, 2), rtol=1e-9, atol=1e-13)
        first = solvers.dpm_solver_pp_2m_step(x, x0_t, a_t, a_s)
        torch.testing.assert_close(first - exact, (-a_s**0.5 * (h + math.expm1(-h)) * c1).expand(3, 2), rtol=1e-9, atol=1e-13)
    with pytest.raises(ValueError, match="first order"):
        solvers.dpm_solver_pp_2m_step(x, x, 0.9, 1.0, x, 0.5)


def test_dpm_solver_pp_2m_loop_is_algorithm_2():
    """The loop = first-order step, then `dpm_solver_pp_2m_step` with the previous x0_hat, then a first-order step into t = 0."""
    data = analytic.Gaussian(MEAN, COV, ALPHA_BAR)
    x_T = torch.randn(6, 2, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    tau = schedules.timesteps(T, 6, "trailing")
    ts = tau.flip(0).tolist() + [0]
    x, x0_prev = x_T, None
    for i, (t, s) in enumerate(zip(ts, ts[1:])):
        a_t = float(ALPHA_BAR[t])
        x0_hat = forward.x0_from_eps(x, data.eps_model(x, torch.full((6,), t)), a_t)
        if i == 0 or s == 0:
            x = solvers.dpm_solver_pp_2m_step(x, x0_hat, a_t, float(ALPHA_BAR[s]))
        else:
            x = solvers.dpm_solver_pp_2m_step(x, x0_hat, a_t, float(ALPHA_BAR[s]), x0_prev, float(ALPHA_BAR[ts[i - 1]]))
        x0_prev = x0_hat
    torch.testing.assert_close(solvers.dpm_solver_pp_2m(data.eps_model, x_T, ALPHA_BAR, tau), x, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("tau, nfe", [
    (schedules.timesteps(T, 10, "linspace"), {"ddim": 10, "heun": 19, "dpm_solver_2": 19, "dpm_solver_pp_2m": 10}),
    (schedules.timesteps(T, 1, "trailing"), {"ddim": 1, "heun": 1, "dpm_solver_2": 1, "dpm_solver_pp_2m": 1}),
    (torch.arange(1, 6), {"ddim": 5, "heun": 9, "dpm_solver_2": 5, "dpm_solver_pp_2m": 5}),  # gaps of 1: k = S - 1
    (torch.tensor([1, 2, 40, 41, 300]), {"ddim": 5, "heun": 9, "dpm_solver_2": 7, "dpm_solver_pp_2m": 5}),  # k = 2
])
def test_nfe_matches_the_docstrings(tau, nfe):
    data = analytic.Gaussian(MEAN, COV, ALPHA_BAR)
    x_T = torch.randn(2, 2, dtype=torch.float64)
    for name in SOLVERS:
        model = solvers.count_calls(data.eps_model)
        getattr(solvers, name)(model, x_T, ALPHA_BAR, tau)
        assert model.calls == nfe[name], (name, model.calls)


def test_dpm_solver_2_falls_back_to_ddim_without_an_integer_midpoint():
    data = analytic.Gaussian(MEAN, COV, ALPHA_BAR)
    x_T = torch.randn(4, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    tau = torch.arange(1, 9)
    torch.testing.assert_close(solvers.dpm_solver_2(data.eps_model, x_T, ALPHA_BAR, tau),
                               solvers.ddim(data.eps_model, x_T, ALPHA_BAR, tau), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", SOLVERS)
def test_bad_input(name):
    solver = getattr(solvers, name)
    x = torch.zeros(2, 3, dtype=torch.float64)
    tau = schedules.timesteps(T, 10)
    model = lambda x, t: 0.1 * x  # noqa: E731
    with pytest.raises(ValueError, match="strictly increasing"):
        solver(model, x, ALPHA_BAR, tau.flip(0))
    with pytest.raises(ValueError, match=r"1\.\.T"):
        solver(model, x, ALPHA_BAR, torch.tensor([0, 10]))
    with pytest.raises(ValueError, match=r"1\.\.T"):
        solver(model, x, ALPHA_BAR, torch.tensor([10, 1001]))
    with pytest.raises(ValueError, match=r"alpha_bar\[0\] must be 1"):
        solver(model, x, ALPHA_BAR[1:], tau)
    with pytest.raises(ValueError, match="eps has shape"):
        solver(lambda x, t: x[:1], x, ALPHA_BAR, tau)


def test_solvers_keep_dtype_and_show_progress():
    data = analytic.Gaussian(MEAN, COV, ALPHA_BAR)
    x_T = torch.randn(3, 2)
    for name in SOLVERS:
        out = getattr(solvers, name)(data.eps_model, x_T, ALPHA_BAR, schedules.timesteps(T, 4), progress=True)
        assert out.dtype == torch.float32 and out.shape == (3, 2) and bool(torch.isfinite(out).all())


# Zero terminal SNR (Lin et al. 2024) with a v-prediction model.
ZSNR = schedules.alpha_bars(schedules.rescale_zero_terminal_snr(schedules.linear_betas(T)))
ZSNR_DATA = analytic.Gaussian(MEAN, COV, ZSNR)


def gaussian_v_model(x_t, t):
    """The exact v = sqrt(a) eps* - sqrt(1 - a) E[x_0 | x_t] of the Gaussian, also at a = 0 (where it is -MEAN).

    Tweedie: E[x_0 | x_t] = m + sqrt(a) Sigma C_t^{-1} (x_t - sqrt(a) m) = m + sqrt(a / (1 - a)) Sigma eps*, which stays
    finite at a = 0 (x_t is then independent of x_0, so E[x_0 | x_t] = m) where eq. (9) would give 0/0.
    """
    a = forward.append_dims(ZSNR[t], x_t.ndim)  # (B, 1)
    eps = ZSNR_DATA.eps_model(x_t, t)
    x0 = MEAN + (a / (1 - a)).sqrt() * (eps @ COV)
    return a.sqrt() * eps - (1 - a).sqrt() * x0


def test_eps_model_from_v_agrees_with_the_exact_eps_and_x0():
    model = forward.eps_model_from_v(gaussian_v_model, ZSNR)
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    for t in [1, 300, 999]:
        tt = torch.full((8,), t)
        eps = ZSNR_DATA.eps_model(x, tt)
        torch.testing.assert_close(model(x, tt), eps, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(model.x0_model(x, tt), forward.x0_from_eps(x, eps, float(ZSNR[t])), rtol=1e-9, atol=1e-10)
    tT = torch.full((8,), T)  # alpha_T = 0: eps = x_T, x0_hat = -v = MEAN
    torch.testing.assert_close(model(x, tT), x)
    torch.testing.assert_close(model.x0_model(x, tT), MEAN.expand(8, 2))


@pytest.mark.parametrize("run", [
    lambda m, x, tau: samplers.sample(m, x, ZSNR, tau, eta=0.0),
    lambda m, x, tau: samplers.sample(m, x, ZSNR, tau, eta=1.0),
    lambda m, x, tau: samplers.ddpm_sample(m, x, ZSNR),
    lambda m, x, tau: samplers.ddim_step(x, x, 0.0, 0.5, 0.0),
] + [lambda m, x, tau, name=name: getattr(solvers, name)(m, x, ZSNR, tau) for name in SOLVERS])
def test_eps_models_are_refused_at_alpha_zero(run):
    x = torch.randn(4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="zero terminal SNR"):
        run(ZSNR_DATA.eps_model, x, schedules.timesteps(T, 10, "trailing"))


@pytest.mark.parametrize("name", SOLVERS)
def test_eps_models_still_work_under_zsnr_on_grids_below_T(name):
    x_T = torch.randn(4, 2, dtype=torch.float64)
    out = getattr(solvers, name)(ZSNR_DATA.eps_model, x_T, ZSNR, schedules.timesteps(T, 10, "uniform"))  # tau_S = 901
    assert bool(torch.isfinite(out).all())


@pytest.mark.parametrize("name, S, nfe", [("ddim", 10, 10), ("heun", 10, 18), ("dpm_solver_2", 10, 18),
                                          ("dpm_solver_pp_2m", 10, 10), ("heun", 1, 1)])
def test_zsnr_nfe(name, S, nfe):
    model = solvers.count_calls(forward.eps_model_from_v(gaussian_v_model, ZSNR))
    getattr(solvers, name)(model, torch.randn(2, 2, dtype=torch.float64), ZSNR, schedules.timesteps(T, S, "trailing"))
    assert model.calls == nfe


# Under zero terminal SNR x_T ~ N(0, I) is exactly q(x_T): no prior mismatch. The grids are fine enough that the
# discretisation error (exact for the deterministic maps, which are affine here) is about one standard error or less.
@pytest.mark.parametrize("label, run", [
    ("sample eta=0, S=500", lambda m, x, g: samplers.sample(m, x, ZSNR, schedules.timesteps(T, 500, "trailing"))),
    ("sample eta=1, S=T", lambda m, x, g: samplers.sample(m, x, ZSNR, schedules.timesteps(T, T, "trailing"), eta=1.0, generator=g)),
    ("ddim, S=500", lambda m, x, g: solvers.ddim(m, x, ZSNR, schedules.timesteps(T, 500, "trailing"))),
] + [(f"{name}, S=50", lambda m, x, g, name=name: getattr(solvers, name)(m, x, ZSNR, schedules.timesteps(T, 50, "trailing")))
     for name in SOLVERS[1:]])
def test_v_model_from_zero_terminal_snr_recovers_the_gaussian(label, run):
    n = 10_000
    g = torch.Generator().manual_seed(9)
    x_T = torch.randn(n, 2, generator=g, dtype=torch.float64)
    x0 = run(forward.eps_model_from_v(gaussian_v_model, ZSNR), x_T, g)
    se_mean = (COV.diagonal() / n).sqrt()
    assert torch.all((x0.mean(0) - MEAN).abs() < 5 * se_mean), (label, x0.mean(0))
    se_cov = ((COV.diagonal()[:, None] * COV.diagonal()[None, :] + COV**2) / n).sqrt()
    assert torch.all((x0.T.cov() - COV).abs() < 5 * se_cov), (label, x0.T.cov())


def test_check_dpm_solver_pp_2m_step(capsys):
    g = torch.Generator().manual_seed(10)
    x, x0_hat, x0_prev = (torch.randn(3, 4, generator=g, dtype=torch.float64) for _ in range(3))
    a_prev, a_now, a_next = (float(ALPHA_BAR[t]) for t in (600, 450, 300))
    right = solvers.dpm_solver_pp_2m_step(x, x0_hat, a_now, a_next, x0_prev, a_prev)
    assert checks.check_dpm_solver_pp_2m_step(right, x, x0_hat, x0_prev, a_prev, a_now, a_next)
    assert "Correct" in capsys.readouterr().out
    first = solvers.dpm_solver_pp_2m_step(x, x0_hat, a_now, a_next)
    assert not checks.check_dpm_solver_pp_2m_step(first, x, x0_hat, x0_prev, a_prev, a_now, a_next)
    out = capsys.readouterr().out
    assert "Not yet" in out and "first-order" in out
    assert not checks.check_dpm_solver_pp_2m_step(right[:1], x, x0_hat, x0_prev, a_prev, a_now, a_next)
    assert "shape" in capsys.readouterr().out


# analytic.Gaussian.ode_solution, x0_mean and v_model (notebooks/08), checked against the independent formulas above.
@pytest.mark.parametrize("t_from, t_to", [(T, 0), (901, 0), (600, 250), (37, 0), (0, 500), (250, 600)])
def test_gaussian_ode_solution_is_the_exact_flow(t_from, t_to):
    """Sampling and encoding directions agree with `exact_flow`; the map composes and pushes q_{t_from} onto q_{t_to}."""
    data = analytic.Gaussian(MEAN, COV, ALPHA_BAR)
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    out = data.ode_solution(x, t_from, t_to)
    if t_from > 0:  # exact_flow divides by sqrt(alpha) at t_from only, which is fine for t_to = 0
        torch.testing.assert_close(out, exact_flow(x, COV, ALPHA_BAR, t_from, t_to), rtol=1e-10, atol=1e-12)
    mid = (t_from + t_to) // 2
    torch.testing.assert_close(data.ode_solution(data.ode_solution(x, t_from, mid), mid, t_to), out, rtol=1e-10, atol=1e-12)
    A = data.ode_solution(torch.eye(2, dtype=torch.float64), t_from, t_to) - data.ode_solution(torch.zeros(1, 2, dtype=torch.float64), t_from, t_to)
    mean_from, cov_from = data.marginal(t_from)
    mean_to, cov_to = data.marginal(t_to)
    torch.testing.assert_close(data.ode_solution(mean_from[None], t_from, t_to)[0], mean_to, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(A.T @ cov_from @ A, cov_to, rtol=1e-9, atol=1e-12)  # the map is x -> A^T x + b


def test_gaussian_ode_solution_from_zero_terminal_snr_and_as_the_limit_of_solvers():
    """At alpha_T = 0 the flow starts from z = x_T; fine solvers converge to it (DPM-Solver++(2M) with a v-model)."""
    data = ZSNR_DATA
    x_T = torch.randn(8, 2, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    exact = data.ode_solution(x_T, T, 0)
    lam, U = torch.linalg.eigh(COV)
    torch.testing.assert_close(exact, MEAN + (x_T @ U * lam.sqrt()) @ U.T, rtol=1e-10, atol=1e-12)
    model = forward.eps_model_from_v(data.v_model, ZSNR)
    errs = [float((solvers.dpm_solver_pp_2m(model, x_T, ZSNR, schedules.timesteps(T, S, "trailing")) - exact).abs().max())
            for S in (25, 100)]
    assert errs[1] < errs[0] / 4 and errs[1] < 1e-2, errs


def test_gaussian_x0_mean_and_v_model():
    """x0_mean is eq. (9) applied to eps* where alpha > 0, the mean at alpha = 0 and x itself at t = 0; v_model is the
    independent `gaussian_v_model` above, also at t = T of the zero-terminal-SNR schedule."""
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(13), dtype=torch.float64)
    data = analytic.Gaussian(MEAN, COV, ALPHA_BAR)
    for t in (1, 300, 1000):
        tt = torch.full((5,), t)
        torch.testing.assert_close(data.x0_mean(x, tt), forward.x0_from_eps(x, data.eps_model(x, tt), float(ALPHA_BAR[t])),
                                   rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(data.x0_mean(x, 0), x)
    torch.testing.assert_close(ZSNR_DATA.x0_mean(x, T), MEAN.expand(5, 2))
    for t in (1, 300, 999, 1000):
        tt = torch.full((5,), t)
        torch.testing.assert_close(ZSNR_DATA.v_model(x, tt), gaussian_v_model(x, tt), rtol=1e-9, atol=1e-10)
    assert data.v_model(x.float(), torch.full((5,), 10)).dtype == torch.float32


def test_check_zero_terminal_snr_betas(capsys):
    betas = schedules.linear_betas(T)
    assert checks.check_zero_terminal_snr_betas(schedules.rescale_zero_terminal_snr(betas), betas)
    assert "Correct" in capsys.readouterr().out
    ab = schedules.alpha_bars(betas)
    wrong = (ab[1:] - ab[T]) * (ab[1] / (ab[1] - ab[T]))  # affine in alpha_t instead of sqrt(alpha_t)
    wrong_betas = 1 - wrong / torch.cat([torch.ones(1, dtype=torch.float64), wrong[:-1]])
    assert not checks.check_zero_terminal_snr_betas(wrong_betas, betas)
    assert "affine in sqrt(alpha_t)" in capsys.readouterr().out
    assert not checks.check_zero_terminal_snr_betas(betas, betas)  # unchanged: beta_T < 1
    assert "must be exactly 1" in capsys.readouterr().out
    assert not checks.check_zero_terminal_snr_betas(betas[:-1], betas)
    assert "shape" in capsys.readouterr().out
