"""Forward processes: q(x_t | x_0) by Monte Carlo (eq. 4), eq. (8) by Bayes' rule, conversions (notebooks/01-02)."""

import pytest
import torch

from ddim_ref import forward, samplers, schedules

ALPHA_BAR = schedules.alpha_bars(schedules.linear_betas(1000))
N = 200_000


@pytest.mark.parametrize("t", [1, 50, 300, 999, 1000])
def test_q_sample_moments_monte_carlo(t):
    g = torch.Generator().manual_seed(t)
    x0 = torch.tensor([0.7, -1.3], dtype=torch.float64)
    eps = torch.randn(N, 2, generator=g, dtype=torch.float64)
    x_t = forward.q_sample(x0.expand(N, 2), ALPHA_BAR[t], eps)  # (N, 2)
    a = float(ALPHA_BAR[t])
    mean, var = a**0.5 * x0, 1 - a
    se_mean, se_var = (var / N) ** 0.5, var * (2 / (N - 1)) ** 0.5
    assert torch.all((x_t.mean(0) - mean).abs() < 5 * se_mean)
    assert torch.all((x_t.var(0) - var).abs() < 5 * se_var)
    m, s = forward.q_mean_std(x0, ALPHA_BAR[t])
    torch.testing.assert_close(m, mean)
    torch.testing.assert_close(s**2, torch.tensor(var, dtype=torch.float64))


def test_per_sample_alpha_with_append_dims():
    x0 = torch.randn(4, 1, 3, 3)
    t = torch.tensor([1, 10, 100, 1000])
    a = forward.append_dims(ALPHA_BAR[t], x0.ndim)  # (4, 1, 1, 1)
    eps = torch.randn_like(x0)
    x_t = forward.q_sample(x0, a, eps)
    for i in range(4):
        torch.testing.assert_close(x_t[i], forward.q_sample(x0[i], float(ALPHA_BAR[t[i]]), eps[i]))


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("t", [2, 10, 500, 1000])
def test_eq8_is_bayes_rule_of_eq7_and_eq4(eta, t):
    """q(x_t | x_{t-1}, x_0) q(x_{t-1} | x_0) = q(x_{t-1} | x_t, x_0) q(x_t | x_0): compare log joints at random points."""
    a_t, a_s = ALPHA_BAR[t], ALPHA_BAR[t - 1]
    sigma = samplers.ddim_sigma(a_t, a_s, eta)
    sigma = sigma if eta > 0 else torch.tensor(1e-3, dtype=torch.float64) * (1 - a_s) ** 0.5  # eta=0 is degenerate
    g = torch.Generator().manual_seed(0)
    x0, x_t, x_s = (torch.randn(5, 3, generator=g, dtype=torch.float64) for _ in range(3))
    x_s = forward.q_sigma_mean_std(x_t, x0, a_t, a_s, sigma)[0] + sigma * x_s  # near the bulk of q_sigma

    def log_normal(x, mean, std):
        return (-0.5 * ((x - mean) / std) ** 2 - torch.log(std * (2 * torch.pi) ** 0.5)).sum(-1)

    m8, s8 = forward.q_sigma_forward_mean_std(x_s, x0, a_t, a_s, sigma)
    m4s, s4s = forward.q_mean_std(x0, a_s)
    m7, s7 = forward.q_sigma_mean_std(x_t, x0, a_t, a_s, sigma)
    m4t, s4t = forward.q_mean_std(x0, a_t)
    lhs = log_normal(x_t, m8, s8 * torch.ones_like(x_t)) + log_normal(x_s, m4s, s4s * torch.ones_like(x_s))
    rhs = log_normal(x_s, m7, s7 * torch.ones_like(x_s)) + log_normal(x_t, m4t, s4t * torch.ones_like(x_t))
    torch.testing.assert_close(lhs, rhs, rtol=1e-9, atol=1e-9)


def test_eq8_needs_t_at_least_2():
    x = torch.zeros(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="t >= 2"):
        forward.q_sigma_forward_mean_std(x, x, ALPHA_BAR[1], ALPHA_BAR[0], 0.0)


def test_conversions_round_trip():
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(2, 8, 3, generator=g, dtype=torch.float64)
    for t in [1, 100, 1000]:
        a = ALPHA_BAR[t]
        x_t = forward.q_sample(x0, a, eps)
        torch.testing.assert_close(forward.x0_from_eps(x_t, eps, a), x0)
        torch.testing.assert_close(forward.eps_from_x0(x_t, x0, a), eps)
        v = forward.v_from_eps(x_t, eps, a)
        torch.testing.assert_close(v, a.sqrt() * eps - (1 - a).sqrt() * x0)
        torch.testing.assert_close(forward.eps_from_v(x_t, v, a), eps)
        torch.testing.assert_close(forward.x0_from_v(x_t, v, a), x0)


def test_sigma_too_large_is_an_error_not_a_clamp():
    x = torch.zeros(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="must not exceed 1 - alpha_prev"):
        forward.q_sigma_mean_std(x, x, ALPHA_BAR[500], ALPHA_BAR[499], 1.0)


def test_coefficient_shape_that_does_not_broadcast():
    with pytest.raises(ValueError, match="does not broadcast"):
        forward.q_sample(torch.zeros(4, 2), torch.full((3,), 0.5), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="append_dims"):
        forward.q_sample(torch.zeros(4, 2, 5, 5), torch.full((4,), 0.5), torch.zeros(4, 2, 5, 5))
