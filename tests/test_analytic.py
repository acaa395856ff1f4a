"""Closed-form optimal noise predictors eps* for Gaussian, mixture and finite data (notebooks/03)."""

import math

import pytest
import torch

from ddim_ref import analytic, forward, samplers, schedules

T = 40
ALPHA_BAR = schedules.alpha_bars(schedules.linear_betas(T, 1e-3, 0.2))  # short schedule that reaches noise
F64 = torch.float64


def _spd(D, seed, jitter=0.2):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(D, D, generator=g, dtype=F64)
    return A @ A.T / D + jitter * torch.eye(D, dtype=F64)


def make_gaussian(D=3):
    return analytic.Gaussian(torch.tensor([0.5, -1.0, 2.0], dtype=F64)[:D], _spd(D, 0), ALPHA_BAR)


def make_mixture():
    weights = torch.tensor([0.2, 0.5, 0.3], dtype=F64)
    means = torch.tensor([[-2.0, 0.0, 0.5], [1.5, 1.5, 0.0], [1.0, -2.0, -1.0]], dtype=F64)
    covs = torch.stack([_spd(3, k, jitter=0.05) * 0.3 for k in range(3)])  # D = 3: 2x2 eigenbases can be symmetric
    return analytic.GaussianMixture(weights, means, covs, ALPHA_BAR)


def make_finite():
    g = torch.Generator().manual_seed(1)
    return analytic.FiniteData(torch.randn(6, 2, generator=g, dtype=F64) * 1.5, ALPHA_BAR, chunk_size=4)


MAKERS = {"gaussian": make_gaussian, "mixture": make_mixture, "finite": make_finite}


def _draw_x_t(data, n, t, g):
    """(x_0, eps, x_t) with x_0 ~ p_data, x_t from eq. (4) at the per-sample times t."""
    x0 = data.sample(n, g)
    eps = torch.randn(x0.shape, generator=g, dtype=F64)
    return x0, eps, forward.q_sample(x0, forward.append_dims(ALPHA_BAR[t], x0.ndim), eps)


def test_gaussian_matches_direct_linear_algebra():
    """eps* = sqrt(1 - a) cov_t^{-1} (x - mean_t) by linalg.solve; log_prob by torch.distributions; t = 0 is p_data."""
    data = make_gaussian()
    x = torch.randn(20, 3, generator=torch.Generator().manual_seed(0), dtype=F64) * 2
    for t in (0, 1, 13, T):
        mean_t, cov_t = data.marginal(t)
        reference = torch.distributions.MultivariateNormal(mean_t, cov_t).log_prob(x)
        torch.testing.assert_close(data.log_prob(x, t), reference, rtol=1e-12, atol=1e-12)
        if t:
            eps = (1 - ALPHA_BAR[t]).sqrt() * torch.linalg.solve(cov_t, (x - mean_t).T).T
            torch.testing.assert_close(data.eps_model(x, torch.full((20,), t)), eps, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(data.marginal(0)[1], data.cov)


def test_mixture_with_one_component_equals_gaussian():
    gauss = make_gaussian()
    mix = analytic.GaussianMixture(torch.ones(1, dtype=F64), gauss.mean[None], gauss.cov[None], ALPHA_BAR)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, generator=g, dtype=F64) * 2
    t = torch.randint(1, T + 1, (50,), generator=g)
    torch.testing.assert_close(mix.eps_model(x, t), gauss.eps_model(x, t), rtol=1e-12, atol=1e-12)
    for tt in (0, t):
        torch.testing.assert_close(mix.log_prob(x, tt), gauss.log_prob(x, tt), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mix.responsibilities(x, t), torch.ones(50, 1, dtype=F64))
    for s in (0, 7, T):
        torch.testing.assert_close(mix.marginal(s)[1][0], gauss.marginal(s)[0])
        torch.testing.assert_close(mix.marginal(s)[2][0], gauss.marginal(s)[1])


def test_finite_data_is_the_mixture_of_point_masses():
    """A mixture with covariances s^2 I -> 0 and uniform weights converges to FiniteData (error O(s^2))."""
    data = make_finite()
    N, D = data.points.shape
    mix = analytic.GaussianMixture(
        torch.full((N,), 1 / N, dtype=F64), data.points, 1e-12 * torch.eye(D, dtype=F64).expand(N, D, D), ALPHA_BAR
    )
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, D, generator=g, dtype=F64) * 2
    t = torch.randint(1, T + 1, (40,), generator=g)
    torch.testing.assert_close(data.eps_model(x, t), mix.eps_model(x, t), rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(data.log_prob(x, t), mix.log_prob(x, t), rtol=1e-8, atol=1e-8)


def test_finite_data_single_point_formula():
    """One point x_1: E[x_0 | x_t] = x_1 and eps* = (x_t - sqrt(a) x_1) / sqrt(1 - a), the noise that was added."""
    p = torch.tensor([[0.3, -0.7]], dtype=F64)
    data = analytic.FiniteData(p, ALPHA_BAR)
    g = torch.Generator().manual_seed(0)
    eps = torch.randn(10, 2, generator=g, dtype=F64)
    t = torch.arange(1, 11) * 4
    x_t = forward.q_sample(p.expand(10, 2), forward.append_dims(ALPHA_BAR[t], 2), eps)
    torch.testing.assert_close(data.eps_model(x_t, t), eps, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(data.x0_mean(x_t, t), p.expand(10, 2))


@pytest.mark.parametrize("kind", MAKERS)
def test_eps_star_is_minus_scaled_score(kind):
    """eps*(x_t, t) = -sqrt(1 - alpha_t) grad log q_t(x_t) (Tweedie), against autograd of log_prob, per-sample t."""
    data = MAKERS[kind]()
    g = torch.Generator().manual_seed(0)
    t = torch.randint(1, T + 1, (30,), generator=g)
    x = (torch.randn(30, data.points.shape[1] if kind == "finite" else data.dim, generator=g, dtype=F64) * 2).requires_grad_()
    (score,) = torch.autograd.grad(data.log_prob(x, t).sum(), x)
    torch.testing.assert_close(data.eps_model(x.detach(), t), -(1 - ALPHA_BAR[t])[:, None].sqrt() * score, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", MAKERS)
@pytest.mark.parametrize("t", [3, 20])
def test_eps_star_is_conditional_mean_of_eps(kind, t):
    """E[(eps - eps*(x_t)) g(x_t)] = 0 for test functions g (E[eps | x_t] = eps*), 5 standard errors; a wrong predictor fails."""
    data = MAKERS[kind]()
    g = torch.Generator().manual_seed(10 + t)
    n = 20_000
    tt = torch.full((n,), t)
    _, eps, x_t = _draw_x_t(data, n, tt, g)
    eps_star = data.eps_model(x_t, tt)

    def max_z(pred):
        zs = []
        for test_fn in (torch.ones_like, lambda x: x, torch.tanh, lambda x: x.roll(1, dims=1) ** 2):
            prod = (eps - pred)[:, :, None] * test_fn(x_t)[:, None, :]  # (n, D, D): every pair of coordinates
            zs.append((prod.mean(0) / (prod.std(0) / n**0.5)).abs().max())
        return float(max(zs))

    assert max_z(eps_star) < 5
    assert max_z(eps_star + 0.2 * torch.tanh(x_t)) > 5  # the check has power against a small error


@pytest.mark.parametrize("t", [1, 10, T])
def test_gaussian_minimum_mse_is_posterior_variance(t):
    """E||eps - eps*||^2 = tr Cov(eps | x_t) = sum_d a lam_d / (a lam_d + 1 - a) (lam: eigenvalues of Sigma)."""
    data = make_gaussian()
    g = torch.Generator().manual_seed(t)
    n = 20_000
    tt = torch.full((n,), t)
    _, eps, x_t = _draw_x_t(data, n, tt, g)
    sq = ((eps - data.eps_model(x_t, tt)) ** 2).sum(1)  # (n,)
    a = float(ALPHA_BAR[t])
    lam = torch.linalg.eigvalsh(data.cov)
    expected = float((a * lam / (a * lam + 1 - a)).sum())
    assert abs(float(sq.mean()) - expected) < 5 * float(sq.std()) / n**0.5


@pytest.mark.parametrize("t", [0, 5, T])
def test_gaussian_marginal_moments_match_q_sample(t):
    data = make_gaussian()
    g = torch.Generator().manual_seed(100 + t)
    n = 40_000
    _, _, x_t = _draw_x_t(data, n, torch.full((n,), t), g)
    mean_t, cov_t = data.marginal(t)
    var = cov_t.diagonal()
    assert torch.all((x_t.mean(0) - mean_t).abs() < 5 * (var / n) ** 0.5)
    se_cov = ((var[:, None] * var[None, :] + cov_t**2) / n) ** 0.5  # std of a Gaussian sample covariance
    assert torch.all((torch.cov(x_t.T) - cov_t).abs() < 5 * se_cov)


def test_mixture_labels_and_responsibilities():
    """Label frequencies match the weights; E[r_k(x_t)] = w_k; E[(1{label = k} - r_k(x_t)) g(x_t)] = 0."""
    data = make_mixture()
    g = torch.Generator().manual_seed(3)
    n = 20_000
    x0, labels = data.sample_with_labels(n, g)
    w = data.weights
    freq = torch.bincount(labels, minlength=3).double() / n
    assert torch.all((freq - w).abs() < 5 * (w * (1 - w) / n) ** 0.5)
    for k in range(3):  # each component's samples have its mean and covariance
        xk, mk, ck = x0[labels == k], data.means[k], data.covs[k]
        var = ck.diagonal()
        assert torch.all((xk.mean(0) - mk).abs() < 5 * (var / len(xk)) ** 0.5)
        assert torch.all((torch.cov(xk.T) - ck).abs() < 5 * ((var[:, None] * var[None, :] + ck**2) / len(xk)) ** 0.5)
    t = 8
    x_t = forward.q_sample(x0, float(ALPHA_BAR[t]), torch.randn(x0.shape, generator=g, dtype=F64))
    r = data.responsibilities(x_t, t)  # (n, K)
    torch.testing.assert_close(r.sum(1), torch.ones(n, dtype=F64))
    onehot = torch.nn.functional.one_hot(labels, 3).double()
    for gx in (torch.ones(n, 1, dtype=F64), x_t, torch.tanh(x_t)):
        prod = (onehot - r)[:, :, None] * gx[:, None, :]  # (n, K, G)
        assert torch.all(prod.mean(0).abs() < 5 * prod.std(0) / n**0.5)
    # at t = 0 the modes are well separated: the argmax classifies almost every data point correctly
    assert float((data.responsibilities(x0, 0).argmax(1) == labels).double().mean()) > 0.97


def test_finite_data_chunking_and_images():
    """Streaming over chunks of points gives the same result as one chunk; image-shaped points (N, C, H, W) work."""
    g = torch.Generator().manual_seed(0)
    points = torch.randn(37, 1, 3, 4, generator=g, dtype=F64)
    one, chunked = analytic.FiniteData(points, ALPHA_BAR, chunk_size=1000), analytic.FiniteData(points, ALPHA_BAR, chunk_size=5)
    x = torch.randn(9, 1, 3, 4, generator=g, dtype=torch.float32)
    t = torch.tensor([1, 2, 3, 5, 8, 13, 21, 34, 40])
    out = chunked.eps_model(x, t)
    assert out.shape == x.shape and out.dtype == torch.float32
    torch.testing.assert_close(out, one.eps_model(x, t))
    torch.testing.assert_close(chunked.log_prob(x.double(), t), one.log_prob(x.double(), t), rtol=1e-12, atol=1e-12)
    # tiny noise: the posterior mean snaps to the point that generated x_t
    x_t = forward.q_sample(points[:9], float(ALPHA_BAR[1]), torch.randn(9, 1, 3, 4, generator=g, dtype=F64))
    torch.testing.assert_close(chunked.x0_mean(x_t, 1), points[:9])


def test_finite_data_samples_uniformly():
    data = make_finite()
    g = torch.Generator().manual_seed(0)
    x, idx = data.sample_with_labels(12_000, g)
    torch.testing.assert_close(x, data.points[idx])
    p = 1 / data.points.shape[0]
    freq = torch.bincount(idx, minlength=data.points.shape[0]).double() / 12_000
    assert torch.all((freq - p).abs() < 5 * (p * (1 - p) / 12_000) ** 0.5)


@pytest.mark.parametrize("kind", MAKERS)
def test_dtype_follows_input_and_sampler_accepts_eps_model(kind):
    data = MAKERS[kind]()
    x_T = torch.randn(4, 2 if kind == "finite" else 3, generator=torch.Generator().manual_seed(0))  # float32
    x0 = samplers.sample(data.eps_model, x_T, ALPHA_BAR, schedules.timesteps(T, 10, "uniform"), eta=0.0)
    assert x0.dtype == torch.float32 and x0.shape == x_T.shape and bool(torch.isfinite(x0).all())


def test_bad_inputs_raise_value_error():
    m, S = torch.zeros(2, dtype=F64), torch.eye(2, dtype=F64)
    with pytest.raises(ValueError, match="positive definite"):
        analytic.Gaussian(m, torch.tensor([[1.0, 2.0], [2.0, 1.0]]), ALPHA_BAR)
    with pytest.raises(ValueError, match="symmetric"):
        analytic.Gaussian(m, torch.tensor([[1.0, 0.5], [0.0, 1.0]]), ALPHA_BAR)
    with pytest.raises(ValueError, match=r"shape \(D, D\)"):
        analytic.Gaussian(torch.zeros(3), S, ALPHA_BAR)
    with pytest.raises(ValueError, match="alpha_bar\\[0\\] must be 1"):
        analytic.Gaussian(m, S, ALPHA_BAR[1:])
    with pytest.raises(ValueError, match="sum to 1"):
        analytic.GaussianMixture(torch.tensor([0.5, 0.6]), torch.zeros(2, 2), torch.eye(2).expand(2, 2, 2), ALPHA_BAR)
    with pytest.raises(ValueError, match="positive"):
        analytic.GaussianMixture(torch.tensor([1.5, -0.5]), torch.zeros(2, 2), torch.eye(2).expand(2, 2, 2), ALPHA_BAR)
    with pytest.raises(ValueError, match="covs"):
        analytic.GaussianMixture(torch.tensor([0.5, 0.5]), torch.zeros(2, 2), torch.eye(3).expand(2, 3, 3), ALPHA_BAR)
    with pytest.raises(ValueError, match="positive definite"):
        analytic.GaussianMixture(torch.tensor([0.5, 0.5]), torch.zeros(2, 2), torch.stack([S, -S]), ALPHA_BAR)
    data, x = analytic.Gaussian(m, S, ALPHA_BAR), torch.zeros(4, 2)
    with pytest.raises(ValueError, match=r"1\.\.T"):
        data.eps_model(x, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="0..T"):
        data.log_prob(x, T + 1)
    with pytest.raises(ValueError, match="integers"):
        data.eps_model(x, torch.ones(4))
    with pytest.raises(ValueError, match=r"shape \(B,\)"):
        data.eps_model(x, torch.ones(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"shape \(B, 2\)"):
        data.eps_model(torch.zeros(4, 3), torch.ones(4, dtype=torch.long))
    finite = analytic.FiniteData(torch.zeros(3, 2), ALPHA_BAR)
    with pytest.raises(ValueError, match=r"1\.\.T"):
        finite.log_prob(x, 0)  # the empirical distribution has no density at t = 0
    with pytest.raises(ValueError, match=r"shape \(B, 2\)"):
        finite.eps_model(torch.zeros(4, 1, 2), 1)
    assert math.isfinite(float(finite.log_prob(x, 1)[0]))


# Class-conditional eps* of the mixture (notebooks/09): p(x | y) is the mixture of the components labelled y.


def make_labelled_mixture():
    """Four components in R^2, class 0 has two of them (labels 0, 1, 0, 2)."""
    weights = torch.tensor([0.2, 0.3, 0.1, 0.4], dtype=F64)
    means = torch.tensor([[-1.5, 0.0], [1.5, 0.5], [-0.5, 1.5], [0.0, -1.5]], dtype=F64)
    covs = torch.stack([_spd(2, k, jitter=0.05) * 0.3 for k in range(4)])
    return analytic.GaussianMixture(weights, means, covs, ALPHA_BAR, labels=[0, 1, 0, 2])


def test_conditional_eps_star_is_minus_scaled_conditional_score():
    """eps*(x_t | y) = -sqrt(1 - a) grad log q_t(x_t | y): autograd of class_log_prob and of the class mixture given(y)."""
    data = make_labelled_mixture()
    g = torch.Generator().manual_seed(0)
    t = torch.randint(1, T + 1, (30,), generator=g)
    y = torch.randint(0, 3, (30,), generator=g)  # one label per sample
    x = (torch.randn(30, 2, generator=g, dtype=F64) * 2).requires_grad_()
    scale = (1 - ALPHA_BAR[t])[:, None].sqrt()
    eps = data.conditional_eps_model(x.detach(), t, y)
    (score,) = torch.autograd.grad(data.class_log_prob(x, y, t).sum(), x)
    torch.testing.assert_close(eps, -scale * score, rtol=1e-10, atol=1e-10)
    for k in range(3):  # the class-k mixture built on its own, through the unconditional code path
        sub = data.given(k)
        (score_k,) = torch.autograd.grad(sub.log_prob(x, t).sum(), x)
        torch.testing.assert_close(data.conditional_eps_model(x.detach(), t, k), -scale * score_k, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(data.class_log_prob(x.detach(), k, t), sub.log_prob(x.detach(), t), rtol=1e-12, atol=1e-12)
    # the null label (None or C) is the unconditional eps*, exactly
    assert torch.equal(data.conditional_eps_model(x.detach(), t), data.eps_model(x.detach(), t))
    assert torch.equal(data.conditional_eps_model(x.detach(), t, 3), data.eps_model(x.detach(), t))


def test_unconditional_eps_star_is_the_posterior_average_of_conditional_ones():
    """sum_y p(y | x_t) eps*(x_t | y) = eps*(x_t), and log q_t(x) = logsumexp_y (log p(y) + log q_t(x | y)) (Bayes)."""
    data = make_labelled_mixture()
    g = torch.Generator().manual_seed(1)
    t = torch.randint(1, T + 1, (40,), generator=g)
    x = torch.randn(40, 2, generator=g, dtype=F64) * 2
    p_y = data.class_probabilities(x, t)  # (B, C)
    torch.testing.assert_close(p_y.sum(1), torch.ones(40, dtype=F64))
    average = sum(p_y[:, k:k + 1] * data.conditional_eps_model(x, t, k) for k in range(3))
    torch.testing.assert_close(average, data.eps_model(x, t), rtol=1e-12, atol=1e-12)
    prior = torch.tensor([0.3, 0.3, 0.4], dtype=F64)  # p(y): class 0 holds components 0 and 2
    joint = torch.stack([prior[k].log() + data.class_log_prob(x, k, t) for k in range(3)], dim=1)  # (B, C)
    torch.testing.assert_close(torch.logsumexp(joint, 1), data.log_prob(x, t), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.softmax(joint, 1), p_y, rtol=1e-12, atol=1e-12)


def test_default_labels_one_class_per_component():
    """Without labels component k is class k: eps*(x_t | k) is the Gaussian eps* of component k alone."""
    data = make_mixture()
    assert data.num_classes == 3 and data.labels.tolist() == [0, 1, 2]
    g = torch.Generator().manual_seed(2)
    x = torch.randn(20, 3, generator=g, dtype=F64) * 2
    t = torch.randint(1, T + 1, (20,), generator=g)
    for k in range(3):
        gauss = analytic.Gaussian(data.means[k], data.covs[k], ALPHA_BAR)
        torch.testing.assert_close(data.conditional_eps_model(x, t, k), gauss.eps_model(x, t), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(data.class_probabilities(x, t), data.responsibilities(x, t))
    x32 = x.float()
    assert data.conditional_eps_model(x32, t, 1).dtype == torch.float32


def test_conditional_bad_inputs_raise_value_error():
    data, x, t = make_labelled_mixture(), torch.zeros(4, 2, dtype=F64), torch.full((4,), 5)
    args = (data.weights, data.means, data.covs, ALPHA_BAR)
    with pytest.raises(ValueError, match="every class"):
        analytic.GaussianMixture(*args, labels=[0, 2, 0, 2])  # class 1 has no component
    with pytest.raises(ValueError, match=r"shape \(K,\)"):
        analytic.GaussianMixture(*args, labels=[0, 1, 0])
    with pytest.raises(ValueError, match=">= 0"):
        analytic.GaussianMixture(*args, labels=[0, -1, 0, 1])
    with pytest.raises(ValueError, match="integers"):
        analytic.GaussianMixture(*args, labels=[0.0, 1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match=r"0\.\.2 \(the classes\) or 3 \(the null label"):
        data.conditional_eps_model(x, t, 4)
    with pytest.raises(ValueError, match=r"0\.\.2 \(the classes\)"):
        data.class_log_prob(x, 3, t)  # the null label has no class density: use log_prob
    with pytest.raises(ValueError, match="use log_prob"):
        data.class_log_prob(x, None, t)
    with pytest.raises(ValueError, match=r"shape \(B,\)"):
        data.conditional_eps_model(x, t, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="integer labels"):
        data.conditional_eps_model(x, t, torch.zeros(4))
    with pytest.raises(ValueError, match="one class label"):
        data.given(3)
