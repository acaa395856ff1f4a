"""Samplers with the exact eps* of analytic data recover the data distribution (notebooks/04, notebooks/05).

For Gaussian data eps* is affine in x, so every DDIM step is affine and the law of the output is
Gaussian with moments we can push through the steps exactly: errors are measured without Monte Carlo.
"""

import math

import pytest
import torch

from ddim_ref import analytic, samplers, schedules

T = 1000
ALPHA_BAR = schedules.alpha_bars(schedules.linear_betas(T))
MEAN = torch.tensor([0.5, -0.3], dtype=torch.float64)
COV = torch.tensor([[0.30, 0.12], [0.12, 0.20]], dtype=torch.float64)
DATA = analytic.Gaussian(MEAN, COV, ALPHA_BAR)


def affine_step(t, s, name, data=DATA):
    """(A, b, sigma) with x_s = A x_t + b + sigma z for one step of `sample` on the Gaussian data's eps*."""
    a_t, a_s = float(data.alpha_bar[t]), float(data.alpha_bar[s])
    if name == "sigma-hat":
        sigma, d_sigma = (samplers.sigma_hat(a_t, a_s) if s > 0 else 0.0), samplers.ddim_sigma(a_t, a_s, 1.0)
    else:
        sigma = d_sigma = samplers.ddim_sigma(a_t, a_s, float(name))
    pts = torch.cat([torch.zeros(1, 2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)])  # 0, e_1, e_2
    eps = data.eps_model(pts, torch.full((3,), t))
    out, _ = samplers.ddim_step(pts, eps, a_t, a_s, 0.0, direction_sigma=d_sigma)
    b = out[0]
    return (out[1:] - b).T, b, sigma  # A[:, i] = f(e_i) - f(0)


def output_moments(tau, name="0", data=DATA, start="prior"):
    """Exact mean and covariance of `sample(..., tau)` started from x_T ~ N(0, I) ("prior") or from the
    true marginal q(x_{tau_S}) ("exact", which isolates the discretisation error)."""
    ts = tau.flip(0).tolist()
    if start == "exact":
        mean, cov = data.marginal(ts[0])
    else:
        mean, cov = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    for t, s in zip(ts, ts[1:] + [0]):
        A, b, sigma = affine_step(t, s, name, data)
        mean, cov = A @ mean + b, A @ cov @ A.T + sigma**2 * torch.eye(2, dtype=torch.float64)
    return mean, cov


def error(tau, name="0", data=DATA, start="prior"):
    mean, cov = output_moments(tau, name, data, start)
    return float((mean - MEAN).norm() + (cov - COV).norm())


def test_affine_moments_match_the_sampling_loop():
    """The exact moments above describe what `sample` does (Monte Carlo, standard-error tolerances)."""
    n, tau = 40_000, schedules.timesteps(T, 20, "linspace")
    g = torch.Generator().manual_seed(0)
    for name in ["0", "1", "sigma-hat"]:
        x_T = torch.randn(n, 2, generator=g, dtype=torch.float64)
        x0 = samplers.sample(DATA.eps_model, x_T, ALPHA_BAR, tau, eta=0.0 if name == "sigma-hat" else float(name),
                             generator=g, use_sigma_hat=name == "sigma-hat")
        mean, cov = output_moments(tau, name)
        se_mean = (cov.diagonal() / n).sqrt()
        assert torch.all((x0.mean(0) - mean).abs() < 5 * se_mean), name
        se_cov = ((cov.diagonal()[:, None] * cov.diagonal()[None, :] + cov**2) / n).sqrt()
        assert torch.all((x0.T.cov() - cov).abs() < 5 * se_cov), name


@pytest.mark.parametrize("name", ["0", "0.2", "1", "sigma-hat"])
@pytest.mark.parametrize("start", ["prior", "exact"])
def test_package_sampler_moments_match_the_step_by_step_propagation(name, start):
    """analytic.Gaussian.sampler_moments (eigenbasis recursion) against the affine maps measured on ddim_step itself."""
    for tau in (schedules.timesteps(T, 10, "uniform"), schedules.timesteps(T, 37, "quadratic")):
        mean, cov = output_moments(tau, name, start=start)
        eta = 0.0 if name == "sigma-hat" else float(name)
        got_mean, got_cov = DATA.sampler_moments(tau, eta, use_sigma_hat=name == "sigma-hat",
                                                 start="standard" if start == "prior" else "exact")
        torch.testing.assert_close(got_mean, mean, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(got_cov, cov, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="start must be"):
        DATA.sampler_moments(tau, start="prior")


def test_scaled_predictor_moments_match_sampling_with_that_predictor():
    """eps_scale(t) * eps* in sampler_moments is what `sample` does with that predictor (Monte Carlo, SE tolerances)."""
    scale = lambda t: 0.7 if t > 500 else 1.1  # noqa: E731
    model = lambda x, t: torch.where(t[:, None] > 500, 0.7, 1.1) * DATA.eps_model(x, t)  # noqa: E731
    n, tau = 40_000, schedules.timesteps(T, 10, "uniform")
    g = torch.Generator().manual_seed(7)
    for eta in (0.0, 1.0):
        x0 = samplers.sample(model, torch.randn(n, 2, generator=g, dtype=torch.float64), ALPHA_BAR, tau, eta=eta, generator=g)
        mean, cov = DATA.sampler_moments(tau, eta, eps_scale=scale)
        assert torch.all((x0.mean(0) - mean).abs() < 5 * (cov.diagonal() / n).sqrt()), eta
        se_cov = ((cov.diagonal()[:, None] * cov.diagonal()[None, :] + cov**2) / n).sqrt()
        assert torch.all((x0.T.cov() - cov).abs() < 5 * se_cov), eta
        _, exact_cov = DATA.sampler_moments(tau, eta)
        assert ((cov - exact_cov).abs() / se_cov).max() > 20  # the predictor's error is resolved by this test


def test_per_direction_scaled_predictor():
    """A (D,) eps_scale scales eps* along the eigenvectors of Sigma: equal entries act like a float; a general vector
    matches sampling with U diag(s) U^T eps* (Monte Carlo, SE tolerances)."""
    tau = schedules.timesteps(T, 10, "uniform")
    for eta in (0.0, 1.0):
        m1, c1 = DATA.sampler_moments(tau, eta, eps_scale=lambda t: 0.9 * torch.ones(2, dtype=torch.float64))
        m2, c2 = DATA.sampler_moments(tau, eta, eps_scale=0.9)
        torch.testing.assert_close(m1, m2)
        torch.testing.assert_close(c1, c2)
    s = torch.tensor([0.8, 1.15], dtype=torch.float64)
    lam, U = torch.linalg.eigh(COV)
    M = U @ torch.diag(s) @ U.T  # (2, 2)
    model = lambda x, t: DATA.eps_model(x, t) @ M.T  # noqa: E731
    n, g = 40_000, torch.Generator().manual_seed(8)
    x0 = samplers.sample(model, torch.randn(n, 2, generator=g, dtype=torch.float64), ALPHA_BAR, tau)
    mean, cov = DATA.sampler_moments(tau, 0.0, eps_scale=lambda t: s)
    assert torch.all((x0.mean(0) - mean).abs() < 5 * (cov.diagonal() / n).sqrt())
    se_cov = ((cov.diagonal()[:, None] * cov.diagonal()[None, :] + cov**2) / n).sqrt()
    assert torch.all((x0.T.cov() - cov).abs() < 5 * se_cov)


@pytest.mark.parametrize("name", ["0", "1", "sigma-hat"])
def test_sampler_w2_kl_match_the_general_formulas(name):
    """The eigenbasis closed forms of W2 and KL against metrics.gaussian_w2 / gaussian_kl on the full matrices."""
    from ddim_ref import metrics

    cov3 = torch.tensor([[0.5, 0.2, 0.0], [0.2, 0.3, 0.1], [0.0, 0.1, 0.05]], dtype=torch.float64)
    data3 = analytic.Gaussian(torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64), cov3, ALPHA_BAR)
    eta = 0.0 if name == "sigma-hat" else float(name)
    for start in ("standard", "exact"):
        tau = schedules.timesteps(T, 10, "uniform")
        mean, cov = data3.sampler_moments(tau, eta, use_sigma_hat=name == "sigma-hat", start=start)
        w2, kl = data3.sampler_w2_kl(tau, eta, use_sigma_hat=name == "sigma-hat", start=start)
        assert w2 == pytest.approx(metrics.gaussian_w2(mean, cov, data3.mean, data3.cov), rel=1e-8)
        assert kl == pytest.approx(metrics.gaussian_kl(mean, cov, data3.mean, data3.cov), rel=1e-8)


FINE = analytic.Gaussian(MEAN, COV, schedules.alpha_bars(schedules.linear_betas(4 * T, 1e-4 / 4, 0.02 / 4)))


@pytest.mark.parametrize("name", ["0", "1"])
def test_ddim_and_ddpm_recover_the_gaussian(name):
    """On the full schedule (eta = 1 is DDPM) the output is N(MEAN, COV) up to a discretisation error that
    vanishes with the number of steps: T = 4000 with beta / 4 discretises the same diffusion 4x finer."""
    coarse_err = error(schedules.timesteps(T, T, "uniform"), name, start="exact")
    fine_err = error(schedules.timesteps(4 * T, 4 * T, "uniform"), name, FINE, start="exact")
    assert coarse_err < 0.03 * float(COV.norm()), coarse_err  # already within 3 % at T = 1000
    assert fine_err < coarse_err / 3, (coarse_err, fine_err)  # first order: about / 4


def test_prior_mismatch_is_a_floor_for_eta0_only():
    """x_T ~ N(0, I) ignores the sqrt(alpha_T) m left in q(x_T): the deterministic flow carries that offset to x_0
    (no number of steps removes it), while DDPM's noise forgets it."""
    offset = float(ALPHA_BAR[-1]) ** 0.5 * float(MEAN.norm())  # size of the mismatch of the mean at T
    for name, data, tau in [("0", DATA, schedules.timesteps(T, T)), ("0", FINE, schedules.timesteps(4 * T, 4 * T))]:
        mean, _ = output_moments(tau, name, data)
        assert 0.2 * offset < float((mean - MEAN).norm()) < offset
    mean, _ = output_moments(schedules.timesteps(T, T), "1")
    assert float((mean - MEAN).norm()) < 0.01 * offset


def test_ddpm_ancestral_sampling_recovers_the_gaussian_monte_carlo():
    n = 8000
    g = torch.Generator().manual_seed(1)
    x0 = samplers.ddpm_sample(DATA.eps_model, torch.randn(n, 2, generator=g, dtype=torch.float64), ALPHA_BAR, generator=g)
    se_mean = (COV.diagonal() / n).sqrt()
    mean, cov = output_moments(schedules.timesteps(T, T, "uniform"), "1")  # exact law, discretisation included
    assert torch.all((x0.mean(0) - mean).abs() < 5 * se_mean)
    se_cov = ((cov.diagonal()[:, None] * cov.diagonal()[None, :] + cov**2) / n).sqrt()
    assert torch.all((x0.T.cov() - cov).abs() < 5 * se_cov)


def test_eta0_error_shrinks_at_first_order():
    """DDIM (eta = 0) is Euler's method for the ODE of eq. (14): the error falls like 1/S."""
    S = [10, 20, 40, 80, 160]
    errs = [error(schedules.timesteps(T, s, "linspace"), start="exact") for s in S]
    assert all(a > b for a, b in zip(errs, errs[1:]))
    slope = (math.log(errs[-1]) - math.log(errs[0])) / (math.log(S[-1]) - math.log(S[0]))
    assert -1.3 < slope < -0.7, f"log-log slope {slope:.2f} is not that of a first-order method"


def test_small_S_ordering_in_eta_and_the_gap_closes():
    """Table 1's main trend on exact data: at small S, eta = 0 is best and the error grows with eta; at S = T it closes.

    sigma-hat is NOT worst here: with few steps eta = 0 and eta = 1 come out under-dispersed on this
    Gaussian, and sigma-hat's extra noise partly compensates (its output variance is the largest).
    On images the same extra noise shows as grain, which is why it scores worst in the paper.
    """
    for S in [10, 20, 50]:
        tau = schedules.timesteps(T, S, "uniform")
        e = [error(tau, name) for name in ["0", "0.5", "1"]]
        assert e[0] < e[1] < e[2], (S, e)
        traces = {name: float(output_moments(tau, name)[1].trace()) for name in ["0", "1", "sigma-hat"]}
        assert traces["0"] < float(COV.trace()) and traces["1"] < float(COV.trace()), "under-dispersed"
        assert traces["sigma-hat"] > traces["1"]
    small = error(schedules.timesteps(T, 10, "uniform"), "0")
    full = schedules.timesteps(T, T, "uniform")
    assert max(error(full, name) for name in ["0", "1", "sigma-hat"]) < 0.1 * small


@pytest.mark.parametrize("eta, S", [(0.0, 100), (1.0, 1000)])
def test_mixture_weights_recovered(eta, S):
    weights = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    means = torch.tensor([[-1.5, 0.0], [1.5, 0.5], [0.0, -1.5]], dtype=torch.float64)
    covs = 0.05 * torch.eye(2, dtype=torch.float64).expand(3, 2, 2)
    mix = analytic.GaussianMixture(weights, means, covs, ALPHA_BAR)
    n = 3000
    g = torch.Generator().manual_seed(2)
    x0 = samplers.sample(mix.eps_model, torch.randn(n, 2, generator=g, dtype=torch.float64), ALPHA_BAR,
                         schedules.timesteps(T, S, "linspace"), eta=eta, generator=g)
    labels = mix.responsibilities(x0).argmax(1)
    freq = torch.bincount(labels, minlength=3).double() / n
    se = (weights * (1 - weights) / n).sqrt()
    assert torch.all((freq - weights).abs() < 5 * se), (freq, weights)


def test_encode_then_decode_error_shrinks_with_S():
    x0 = DATA.sample(500, torch.Generator().manual_seed(3))
    errs = {}
    for S in [10, 40, 160]:
        tau = schedules.timesteps(T, S, "linspace")
        rec = samplers.sample(DATA.eps_model, samplers.encode(DATA.eps_model, x0, ALPHA_BAR, tau), ALPHA_BAR, tau)
        errs[S] = float(((rec - x0) ** 2).mean())
    assert errs[10] > errs[40] > errs[160]
    assert errs[160] < errs[10] / 8, errs  # 16x more steps; first order would give about 1/16 in error


def test_exact_inversion_reaches_round_off():
    """encode(iters=K) solves each step's implicit equation by fixed-point iteration: decoding with eta = 0 gives
    x0 back, with an error that falls geometrically in K down to round-off, faster for smaller steps."""
    x0 = DATA.sample(200, torch.Generator().manual_seed(4))
    rates = {}
    for S in [10, 50]:
        tau = schedules.timesteps(T, S, "uniform")
        errs = []
        for K in [0, 1, 2, 3, 4, 48]:
            x_T = samplers.encode(DATA.eps_model, x0, ALPHA_BAR, tau, iters=K)
            errs.append(float((samplers.sample(DATA.eps_model, x_T, ALPHA_BAR, tau) - x0).abs().max()))
        assert errs[0] > 1e-3, errs  # the usual inversion (K = 0) is not exact
        assert all(b < a for a, b in zip(errs[:4], errs[1:5])), errs  # every iteration helps
        assert errs[-1] < 1e-12, errs  # the fixed point inverts the sampler to round-off
        rates[S] = (errs[4] / errs[0]) ** (1 / 4)  # mean contraction per iteration
    assert rates[50] < rates[10] < 1, rates  # the contraction factor shrinks with the step size


def test_exact_inversion_counts_calls_and_rejects_bad_iters():
    calls = []
    model = lambda x, t: calls.append(1) or DATA.eps_model(x, t)  # noqa: E731
    x0 = DATA.sample(4, torch.Generator().manual_seed(5))
    samplers.encode(model, x0, ALPHA_BAR, schedules.timesteps(T, 7, "uniform"), iters=3)
    assert len(calls) == 7 * (3 + 1)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="iters must be an integer >= 0"):
            samplers.encode(DATA.eps_model, x0, ALPHA_BAR, schedules.timesteps(T, 7, "uniform"), iters=bad)
