"""Objectives: L_gamma (eq. 5), J_sigma term by term (eq. 11), Theorem 1's gamma and C (notebooks/03)."""

import math

import pytest
import torch

from ddim_ref import analytic, forward, objectives, samplers, schedules

T = 30
BETAS = schedules.linear_betas(T, 1e-3, 0.2)
ALPHA_BAR = schedules.alpha_bars(BETAS)
F64 = torch.float64
D = 3
SIGMA_1 = float(BETAS[0]) ** 0.5  # std of the t = 1 decoder p_theta(x_0 | x_1): sqrt(beta_1), DDPM's choice


def make_data():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(D, D, generator=g, dtype=F64)
    return analytic.Gaussian(torch.tensor([0.5, -1.0, 2.0], dtype=F64), A @ A.T / D + 0.2 * torch.eye(D, dtype=F64), ALPHA_BAR)


DATA = make_data()


def wrong_model(x_t, t):
    return 0.7 * DATA.eps_model(x_t, t) + 0.1


_W = torch.randn(D, D, generator=torch.Generator().manual_seed(5), dtype=F64) * 0.3


def linear_model(x_t, t):
    """A small random linear model whose weights depend on t."""
    return x_t @ _W * (t.double()[:, None] / T) + 0.05 * t.double()[:, None].sin()


MODELS = {"exact": DATA.eps_model, "wrong": wrong_model, "linear": linear_model}


@pytest.mark.parametrize("eta", [0.5, 1.0])
def test_theorem1_common_random_numbers(eta):
    """With the same eps per (sample, t): J_sigma - L_gamma = C exactly, per sample, for every model (Theorem 1)."""
    sigma = objectives.sigma_schedule(ALPHA_BAR, eta, sigma_1=SIGMA_1)
    gamma = objectives.theorem1_gamma(ALPHA_BAR, sigma)
    assert bool((gamma[1:] > 0).all()) and float(gamma[0]) == 0
    g = torch.Generator().manual_seed(1)
    x0 = DATA.sample(16, g)
    eps = torch.randn((T + 1,) + x0.shape, generator=g, dtype=F64)
    C = objectives.theorem1_constant(x0, ALPHA_BAR, sigma)
    diffs = {}
    for name, model in MODELS.items():
        J = objectives.j_sigma(model, x0, ALPHA_BAR, sigma, eps=eps)
        L = objectives.l_gamma(model, x0, ALPHA_BAR, gamma, eps=eps)
        diffs[name] = J - L
        torch.testing.assert_close(J - L, C, rtol=0, atol=1e-9 * float(J.abs().max()))
    assert float((objectives.l_gamma(wrong_model, x0, ALPHA_BAR, gamma, eps) - objectives.l_gamma(DATA.eps_model, x0, ALPHA_BAR, gamma, eps)).abs().min()) > 1e-3
    torch.testing.assert_close(diffs["exact"], diffs["wrong"], rtol=1e-9, atol=0)
    torch.testing.assert_close(diffs["exact"], diffs["linear"], rtol=1e-9, atol=0)


@pytest.mark.parametrize("eta", [0.5, 1.0])
def test_theorem1_independent_noise_within_standard_error(eta):
    """With independent eps for J and L: mean(J - L - C) = 0 within 5 standard errors, for the exact and a wrong model."""
    sigma = objectives.sigma_schedule(ALPHA_BAR, eta, sigma_1=SIGMA_1)
    gamma = objectives.theorem1_gamma(ALPHA_BAR, sigma)
    g = torch.Generator().manual_seed(2)
    n = 2000
    x0 = DATA.sample(n, g)
    C = objectives.theorem1_constant(x0, ALPHA_BAR, sigma)
    for model in (DATA.eps_model, wrong_model):
        r = objectives.j_sigma(model, x0, ALPHA_BAR, sigma, generator=g) - objectives.l_gamma(model, x0, ALPHA_BAR, gamma, generator=g) - C
        assert abs(float(r.mean())) < 5 * float(r.std()) / n**0.5


def test_eta1_gamma_matches_ddpm_weights():
    """eta = 1 gives sigma_t^2 = beta_tilde_t and gamma_t = beta_t^2 / (2 sigma_t^2 (1 - beta_t)(1 - alpha_t)), t >= 2 (Ho et al.)."""
    sigma = objectives.sigma_schedule(ALPHA_BAR, 1.0, sigma_1=SIGMA_1)
    gamma = objectives.theorem1_gamma(ALPHA_BAR, sigma)
    a, a_prev, beta = ALPHA_BAR[2:], ALPHA_BAR[1:-1], BETAS[1:]  # t = 2..T
    beta_tilde = (1 - a_prev) / (1 - a) * beta
    torch.testing.assert_close(sigma[2:] ** 2, beta_tilde, rtol=1e-12, atol=0)
    torch.testing.assert_close(gamma[2:], beta**2 / (2 * beta_tilde * (1 - beta) * (1 - a)), rtol=1e-10, atol=0)
    torch.testing.assert_close(gamma[1], (1 - ALPHA_BAR[1]) / (2 * ALPHA_BAR[1] * SIGMA_1**2), rtol=1e-12, atol=0)


def test_eta1_kl_terms_match_ddpm_posterior_means():
    """eta = 1, t >= 2: the KL column is ||mu_tilde(x_t, x_0) - mu_theta(x_t)||^2 / (2 beta_tilde_t) in DDPM's own formulas."""
    sigma = objectives.sigma_schedule(ALPHA_BAR, 1.0, sigma_1=SIGMA_1)
    g = torch.Generator().manual_seed(3)
    x0 = DATA.sample(8, g)
    eps = torch.randn((T + 1,) + x0.shape, generator=g, dtype=F64)
    terms = objectives.j_sigma_terms(linear_model, x0, ALPHA_BAR, sigma, eps=eps)
    assert terms.shape == (8, T + 1)
    for t in (2, 7, T):
        a, a_prev, beta = ALPHA_BAR[t], ALPHA_BAR[t - 1], BETAS[t - 1]
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps[t]
        mu_tilde = a_prev.sqrt() * beta / (1 - a) * x0 + (1 - beta).sqrt() * (1 - a_prev) / (1 - a) * x_t
        mu_theta = (x_t - beta / (1 - a).sqrt() * linear_model(x_t, torch.full((8,), t))) / (1 - beta).sqrt()
        beta_tilde = (1 - a_prev) / (1 - a) * beta
        torch.testing.assert_close(terms[:, t], ((mu_tilde - mu_theta) ** 2).sum(1) / (2 * beta_tilde), rtol=1e-9, atol=1e-12)
    # column 0: KL(N(sqrt(a_T) x_0, (1 - a_T) I) || N(0, I)) in closed form
    aT = ALPHA_BAR[T]
    expected = 0.5 * (aT * (x0**2).sum(1) - D * aT - D * torch.log(1 - aT))
    torch.testing.assert_close(terms[:, 0], expected, rtol=1e-12, atol=1e-12)


def test_sigma_schedule_and_gamma_validation():
    sigma = objectives.sigma_schedule(ALPHA_BAR, 0.5)
    assert sigma.dtype == F64 and sigma.shape == (T + 1,) and float(sigma[0]) == 0 and float(sigma[1]) == 0  # eq. (16)
    for t in (2, 10, T):
        assert math.isclose(float(sigma[t]), samplers.ddim_sigma(float(ALPHA_BAR[t]), float(ALPHA_BAR[t - 1]), 0.5), rel_tol=1e-12)
    with pytest.raises(ValueError, match="sigma_1"):
        objectives.theorem1_gamma(ALPHA_BAR, sigma)  # sigma_1 = 0: the t = 1 decoder is a point mass
    with pytest.raises(ValueError, match="eta = 0"):
        objectives.theorem1_gamma(ALPHA_BAR, objectives.sigma_schedule(ALPHA_BAR, 0.0, sigma_1=SIGMA_1))
    with pytest.raises(ValueError, match="sigma_1"):
        objectives.sigma_schedule(ALPHA_BAR, 1.0, sigma_1=0.0)
    with pytest.raises(ValueError, match="eta"):
        objectives.sigma_schedule(ALPHA_BAR, -1.0)
    with pytest.raises(ValueError, match=r"\(T\+1,\)"):
        objectives.theorem1_gamma(ALPHA_BAR, sigma[1:])
    with pytest.raises(ValueError, match="1 - alpha_"):
        objectives.theorem1_gamma(ALPHA_BAR, objectives.sigma_schedule(ALPHA_BAR, 3.0, sigma_1=SIGMA_1))
    x0 = torch.zeros(2, D, dtype=F64)
    with pytest.raises(ValueError, match="eps"):
        objectives.l_gamma(DATA.eps_model, x0, ALPHA_BAR, torch.ones(T + 1, dtype=F64), eps=torch.zeros(T, 2, D, dtype=F64))
    with pytest.raises(ValueError, match="gamma"):
        objectives.l_gamma(DATA.eps_model, x0, ALPHA_BAR, torch.ones(T, dtype=F64))


def test_simple_loss_prefers_the_exact_predictor():
    """L_simple(eps*) < L_simple(wrong) by more than 5 standard errors of the paired difference (common eps and t)."""
    g = torch.Generator().manual_seed(4)
    n = 4000
    x0 = DATA.sample(n, g)
    t = objectives.sample_t(n, T, g)
    eps = torch.randn(x0.shape, generator=g, dtype=F64)
    chunks = [slice(i, i + 100) for i in range(0, n, 100)]  # 40 batches of 100: paired batch losses
    losses = torch.tensor([[float(objectives.simple_loss(m, x0[c], ALPHA_BAR, t[c], eps[c])) for c in chunks]
                           for m in (DATA.eps_model, wrong_model)], dtype=F64)  # (2, 40)
    d = losses[1] - losses[0]
    assert float(d.mean()) > 5 * float(d.std()) / len(chunks) ** 0.5
    assert objectives.simple_loss(DATA.eps_model, x0, ALPHA_BAR, t, eps) < objectives.simple_loss(wrong_model, x0, ALPHA_BAR, t, eps)


def test_simple_loss_is_l_gamma_at_one_t():
    """simple_loss at a fixed t equals mean_b L_gamma / d with gamma = indicator of t (same eps)."""
    g = torch.Generator().manual_seed(5)
    x0 = DATA.sample(32, g)
    eps = torch.randn((T + 1,) + x0.shape, generator=g, dtype=F64)
    for t in (1, 11, T):
        gamma = torch.zeros(T + 1, dtype=F64)
        gamma[t] = 1.0
        lg = objectives.l_gamma(linear_model, x0, ALPHA_BAR, gamma, eps=eps)
        simple = objectives.simple_loss(linear_model, x0, ALPHA_BAR, torch.full((32,), t), eps[t])
        torch.testing.assert_close(simple, lg.mean() / D, rtol=1e-12, atol=0)


def test_simple_loss_of_eps_star_is_posterior_variance():
    """E[L_simple(eps*)] at fixed t = (1/d) sum_d a lam_d / (a lam_d + 1 - a), within 5 standard errors."""
    g = torch.Generator().manual_seed(6)
    n, t = 20_000, 6
    x0 = DATA.sample(n, g)
    eps = torch.randn(x0.shape, generator=g, dtype=F64)
    tt = torch.full((n,), t)
    loss = objectives.simple_loss(DATA.eps_model, x0, ALPHA_BAR, tt, eps)
    x_t = forward.q_sample(x0, float(ALPHA_BAR[t]), eps)
    se = float(((eps - DATA.eps_model(x_t, tt)) ** 2).mean(1).std()) / n**0.5
    a, lam = float(ALPHA_BAR[t]), torch.linalg.eigvalsh(DATA.cov)
    assert abs(float(loss) - float((a * lam / (a * lam + 1 - a)).mean())) < 5 * se


def test_sample_t_uniform_on_1_to_T():
    g = torch.Generator().manual_seed(7)
    n = 30_000
    t = objectives.sample_t(n, T, g)
    assert t.dtype == torch.long and int(t.min()) == 1 and int(t.max()) == T
    p = 1 / T
    freq = torch.bincount(t, minlength=T + 1)[1:].double() / n
    assert torch.all((freq - p).abs() < 5 * (p * (1 - p) / n) ** 0.5)
    with pytest.raises(ValueError, match="T"):
        objectives.sample_t(4, 0, g)
    with pytest.raises(ValueError, match=r"1\.\.T"):
        objectives.simple_loss(DATA.eps_model, torch.zeros(2, D, dtype=F64), ALPHA_BAR, torch.tensor([0, 1]), torch.zeros(2, D, dtype=F64))


def test_gaussian_kl_zero_and_monte_carlo():
    """KL(q || q) = 0; KL(q || p) = E_q[log q - log p] by Monte Carlo within 5 standard errors; KL is not symmetric."""
    g = torch.Generator().manual_seed(8)
    mq, mp = torch.randn(2, 4, generator=g, dtype=F64), torch.randn(2, 4, generator=g, dtype=F64)
    sq, sp = torch.tensor([[0.7], [1.3]], dtype=F64), 1.1
    torch.testing.assert_close(objectives.gaussian_kl(mq, sq, mq, sq), torch.zeros(2, dtype=F64), rtol=0, atol=1e-15)
    kl = objectives.gaussian_kl(mq, sq, mp, sp)  # (2,)
    n = 50_000
    x = mq + sq * torch.randn(n, 2, 4, generator=g, dtype=F64)  # (n, 2, 4) draws from q

    def log_normal(x, mean, std):
        return (-0.5 * ((x - mean) / std) ** 2 - torch.log(torch.as_tensor(std, dtype=F64) * math.sqrt(2 * math.pi))).sum(-1)

    log_ratio = log_normal(x, mq, sq) - log_normal(x, mp, sp)  # (n, 2)
    assert torch.all((log_ratio.mean(0) - kl).abs() < 5 * log_ratio.std(0) / n**0.5)
    assert not torch.allclose(kl, objectives.gaussian_kl(mp, sp, mq, sq))
    with pytest.raises(ValueError, match="std"):
        objectives.gaussian_kl(mq, 0.0, mp, sp)


@pytest.mark.parametrize("eta", [0.5, 1.0])
def test_path_estimate_of_eq11_matches_kl_form(eta):
    """j_sigma_path (log-density ratios along paths drawn from q_sigma) has the mean of the KL form j_sigma, within 5 SE."""
    sigma = objectives.sigma_schedule(ALPHA_BAR, eta, sigma_1=SIGMA_1)
    g = torch.Generator().manual_seed(11)
    n = 3000
    x0 = DATA.sample(n, g)
    for model in (DATA.eps_model, wrong_model, linear_model):
        path = objectives.j_sigma_path(model, x0, ALPHA_BAR, sigma, generator=g)
        kl = objectives.j_sigma(model, x0, ALPHA_BAR, sigma, generator=g)
        d = path - kl  # paired by x_0, independent noise
        assert path.shape == (n,) and abs(float(d.mean())) < 5 * float(d.std()) / n**0.5
    with pytest.raises(ValueError, match="sigma_1"):
        objectives.j_sigma_path(DATA.eps_model, x0[:2], ALPHA_BAR, objectives.sigma_schedule(ALPHA_BAR, 1.0))


def _simulate_p_theta(model, sigma, n, g):
    """x_0 from the generative chain of eq. (10) with a Gaussian decoder of std sigma[1] (not samplers.sample: it stops at f)."""
    ab = ALPHA_BAR.tolist()
    x = torch.randn(n, D, generator=g, dtype=F64)
    for t in range(T, 0, -1):
        f = forward.x0_from_eps(x, model(x, torch.full((n,), t)), ab[t])
        mean = f if t == 1 else forward.q_sigma_mean_std(x, f, ab[t], ab[t - 1], float(sigma[t]))[0]
        x = mean + float(sigma[t]) * torch.randn(n, D, generator=g, dtype=F64)
    return x


def test_affine_model_marginal_matches_simulated_chain():
    """Mean and covariance of p_theta(x_0) for affine eps-models equal those of simulated chains (5 standard errors)."""
    sigma = objectives.sigma_schedule(ALPHA_BAR, 1.0, sigma_1=SIGMA_1)
    g = torch.Generator().manual_seed(12)
    n = 40_000
    for model in (DATA.eps_model, wrong_model):
        mean, cov = objectives.affine_model_marginal(model, ALPHA_BAR, sigma, D)
        assert mean.shape == (D,) and cov.shape == (D, D) and torch.allclose(cov, cov.T)
        x = _simulate_p_theta(model, sigma, n, g)
        se_mean = cov.diagonal().sqrt() / n**0.5
        assert bool(((x.mean(0) - mean).abs() < 5 * se_mean).all())
        centred = x - mean
        prods = centred[:, :, None] * centred[:, None, :]  # (n, D, D)
        assert bool(((prods.mean(0) - cov).abs() < 5 * prods.std(0) / n**0.5).all())


def test_affine_model_nll_is_exact_and_below_j_sigma():
    """affine_model_nll = -log N(x_0; mean, cov); E[J_sigma - (-log p_theta(x_0))] > 0 (the ELBO gap); a non-affine model is refused."""
    sigma = objectives.sigma_schedule(ALPHA_BAR, 1.0, sigma_1=SIGMA_1)
    g = torch.Generator().manual_seed(13)
    x0 = DATA.sample(2000, g)
    nll = objectives.affine_model_nll(DATA.eps_model, x0, ALPHA_BAR, sigma)
    mean, cov = objectives.affine_model_marginal(DATA.eps_model, ALPHA_BAR, sigma, (D,))
    torch.testing.assert_close(nll, -torch.distributions.MultivariateNormal(mean, cov).log_prob(x0), rtol=1e-12, atol=1e-12)
    gap = objectives.j_sigma(DATA.eps_model, x0, ALPHA_BAR, sigma, generator=g) - nll
    assert float(gap.mean()) > 5 * float(gap.std()) / len(gap) ** 0.5
    with pytest.raises(ValueError, match="not affine"):
        objectives.affine_model_marginal(lambda x, t: torch.tanh(x), ALPHA_BAR, sigma, D)
