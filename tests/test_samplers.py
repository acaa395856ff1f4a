"""Samplers: Lemma 1 along tau, eta = 1 is DDPM, sigma-hat, repeated steps, slerp, bad input (notebooks/02, 04, 05)."""

import pytest
import types

import torch

from ddim_ref import forward, samplers, schedules

T = 1000
ALPHA_BAR = schedules.alpha_bars(schedules.linear_betas(T))
SIGMAS = ["eta=0", "eta=0.5", "eta=1"]


def step_sigmas(name, a_t, a_s):
    """(sigma, direction_sigma) of one step for a named choice of the family."""
    if name == "sigma-hat":  # no noise on the final step to x_0 (alpha_prev = 1), as in the official code
        return (samplers.sigma_hat(a_t, a_s) if a_s < 1 else 0.0), samplers.ddim_sigma(a_t, a_s, 1.0)
    sigma = samplers.ddim_sigma(a_t, a_s, float(name.split("=")[1]))
    return sigma, sigma


def propagate_moments(tau, name, x0=1.0):
    """Exact mean and variance of x_{tau_i} given x_0 when chaining q_sigma down from x_{tau_S} ~ q(. | x_0).

    Each step is linear-Gaussian, x_prev = A x_t + B x_0 + sigma z; A and B are read off
    ddim_step itself (with the noise that takes x_0 to x_t), so the package code is what is checked.
    """
    ab = ALPHA_BAR.tolist()
    ts = tau.flip(0).tolist()
    prevs = ts[1:] + [0]
    mean, var = ab[ts[0]] ** 0.5 * x0, 1 - ab[ts[0]]
    out = {ts[0]: (mean, var)}
    for t, s in zip(ts, prevs):
        sigma, d_sigma = step_sigmas(name, ab[t], ab[s])

        def step(x_t, x_0):
            x_t, x_0 = torch.tensor([x_t], dtype=torch.float64), torch.tensor([x_0], dtype=torch.float64)
            eps = forward.eps_from_x0(x_t, x_0, ab[t])
            return float(samplers.ddim_step(x_t, eps, ab[t], ab[s], 0.0, direction_sigma=d_sigma)[0])

        A, B = step(1.0, 0.0), step(0.0, 1.0)
        mean, var = A * mean + B * x0, A**2 * var + sigma**2
        out[s] = (mean, var)
    return out


@pytest.mark.parametrize("name", SIGMAS)
@pytest.mark.parametrize("tau", [schedules.timesteps(T, T, "uniform"), schedules.timesteps(T, 10, "uniform"),
                                 schedules.timesteps(T, 7, "trailing"), schedules.timesteps(T, 20, "quadratic")])
def test_lemma1_exact_marginals(name, tau):
    """Lemma 1 (and appendix C.1 for sub-sequences): every x_t along tau has marginal N(sqrt(a_t) x_0, 1 - a_t)."""
    x0 = 0.8
    for t, (mean, var) in propagate_moments(tau, name, x0).items():
        a = float(ALPHA_BAR[t])
        assert mean == pytest.approx(a**0.5 * x0, abs=1e-9), f"t={t}"
        assert var == pytest.approx(1 - a, abs=1e-9), f"t={t}"


def test_sigma_hat_is_not_in_the_family_and_inflates_the_variance():
    """sigma-hat (Table 1) adds more noise than eq. (7) allows: marginal variances exceed 1 - alpha_t, most at small S."""
    x0, worst = 0.8, {}
    for S in [10, 100, T]:
        moments = propagate_moments(schedules.timesteps(T, S, "uniform"), "sigma-hat", x0)
        for t, (mean, var) in moments.items():
            assert mean == pytest.approx(float(ALPHA_BAR[t]) ** 0.5 * x0, abs=1e-9), "the means are still right"
        ratios = [var / (1 - float(ALPHA_BAR[t])) for t, (mean, var) in moments.items() if t > 0]
        assert min(ratios) > 1 - 1e-12 and max(ratios) > 1.5
        worst[S] = max(ratios)
        assert moments[0][1] == 0, "like the official code, no noise is added on the last step to x_0"
    assert worst[10] > worst[100] > worst[T]


@pytest.mark.parametrize("name", SIGMAS + ["sigma-hat"])
def test_lemma1_monte_carlo_through_sample(name):
    """Run `sample` with an oracle eps (the noise that takes a fixed x_0 to x_t): it is exactly a draw of q_sigma."""
    n, x0 = 100_000, torch.tensor([0.8, -0.5], dtype=torch.float64)
    tau = schedules.timesteps(T, 10, "uniform")
    g = torch.Generator().manual_seed(3)
    x_T = forward.q_sample(x0.expand(n, 2), ALPHA_BAR[int(tau[-1])], torch.randn(n, 2, generator=g, dtype=torch.float64))

    def oracle(x_t, t):
        return forward.eps_from_x0(x_t, x0, ALPHA_BAR[int(t[0])])

    seen = {}
    samplers.sample(oracle, x_T, ALPHA_BAR, tau, eta=float(name.split("=")[1]) if "=" in name else 0.0, generator=g,
                    use_sigma_hat=name == "sigma-hat", callback=lambda i, t, x, x0_hat: seen.update({t: x.clone()}))
    exact = propagate_moments(tau, name, 1.0)  # linear in x_0: scale the mean
    prevs = [0] + tau[:-1].tolist()
    for s in prevs:
        x = seen[[t for t, p in zip(tau.tolist(), prevs) if p == s][0]]
        mean, var = exact[s]
        a = float(ALPHA_BAR[s])
        if var > 0:
            se_mean, se_var = (var / n) ** 0.5, var * (2 / (n - 1)) ** 0.5
            assert torch.all((x.mean(0) - mean * x0).abs() < 5 * se_mean), f"t={s}"
            assert torch.all((x.var(0) - var).abs() < 5 * se_var), f"t={s}"
        else:
            torch.testing.assert_close(x, x0.expand(n, 2))
        if name != "sigma-hat":  # and the exact moments are those of Lemma 1
            assert mean * 1.0 == pytest.approx(a**0.5) and var == pytest.approx(1 - a, abs=1e-9)


def test_eta1_sigma_is_ddpm_posterior_variance():
    betas = schedules.linear_betas(T)
    t = torch.arange(2, T + 1)
    sigma = samplers.ddim_sigma(ALPHA_BAR[t], ALPHA_BAR[t - 1], 1.0)
    beta_tilde = (1 - ALPHA_BAR[t - 1]) / (1 - ALPHA_BAR[t]) * betas[t - 1]  # DDPM eq. (7)
    torch.testing.assert_close(sigma**2, beta_tilde, rtol=1e-10, atol=0)
    assert samplers.ddim_sigma(ALPHA_BAR[1], ALPHA_BAR[0], 1.0) == 0  # no noise on the last step
    assert float(samplers.sigma_hat(ALPHA_BAR[500], ALPHA_BAR[499])) == pytest.approx(float(betas[499]) ** 0.5)


def test_eta1_step_is_ddpm_ancestral_step():
    g = torch.Generator().manual_seed(0)
    x_t, eps, z = torch.randn(3, 16, 2, generator=g, dtype=torch.float64)
    for t in [2, 3, 100, 999, 1000]:
        a_t, a_s = float(ALPHA_BAR[t]), float(ALPHA_BAR[t - 1])
        ddim, _ = samplers.ddim_step(x_t, eps, a_t, a_s, samplers.ddim_sigma(a_t, a_s, 1.0), noise=z)
        ddpm = samplers.ddpm_step(x_t, eps, a_t, a_s, noise=z)
        torch.testing.assert_close(ddim, ddpm, rtol=1e-10, atol=1e-12)


def linear_eps_model(x, t):
    """A made-up network: any deterministic function of (x, t) serves for identities."""
    return 0.3 * x * (t.double() / T).reshape(-1, 1).to(x.dtype) + 0.1


def test_ddpm_sampling_equals_eta1_on_full_schedule():
    x_T = torch.randn(8, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    tau = schedules.timesteps(T, T, "uniform")
    ddim = samplers.sample(linear_eps_model, x_T, ALPHA_BAR, tau, eta=1.0, generator=torch.Generator().manual_seed(7))
    ddpm = samplers.ddpm_sample(linear_eps_model, x_T, ALPHA_BAR, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(ddim, ddpm, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", SIGMAS + ["sigma-hat"])
def test_repeated_step_is_identity(name):
    """Why "quadratic" may drop repeated steps: alpha_t = alpha_prev makes the step the identity for every sigma."""
    x_t, eps = torch.randn(2, 5, 3, dtype=torch.float64)
    a = float(ALPHA_BAR[300])
    sigma, d_sigma = step_sigmas(name, a, a)
    x_prev, _ = samplers.ddim_step(x_t, eps, a, a, sigma, direction_sigma=d_sigma)
    torch.testing.assert_close(x_prev, x_t)


def test_eta0_sampling_is_deterministic_and_tensor_scalars_match_floats():
    x_T = torch.randn(4, 3, dtype=torch.float64)
    tau = schedules.timesteps(T, 20, "uniform")
    a = samplers.sample(linear_eps_model, x_T, ALPHA_BAR, tau, generator=torch.Generator().manual_seed(0))
    b = samplers.sample(linear_eps_model, x_T, ALPHA_BAR, tau, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    eps = torch.randn_like(x_T)
    f = samplers.ddim_step(x_T, eps, 0.5, 0.7, 0.2, noise=eps)
    t = samplers.ddim_step(x_T, eps, torch.tensor(0.5), torch.tensor(0.7), torch.tensor(0.2), noise=eps)
    torch.testing.assert_close(f, t)


def test_trajectory_and_callback():
    x_T = torch.randn(4, 3, dtype=torch.float64)
    tau = schedules.timesteps(T, 5, "uniform")
    x0, xs, x0_hats = samplers.sample_trajectory(linear_eps_model, x_T, ALPHA_BAR, tau)
    assert xs.shape == (6, 4, 3) and x0_hats.shape == (5, 4, 3)
    torch.testing.assert_close(xs[0], x_T)
    torch.testing.assert_close(xs[-1], x0)
    torch.testing.assert_close(x0_hats[-1], x0)  # the last step goes to alpha = 1, i.e. returns x0_hat


def test_encode_is_the_inverse_of_one_step():
    """With one step, decode(encode(x0)) is exact for any model that ignores x (the update is affine in x)."""
    x0 = torch.randn(6, 2, dtype=torch.float64)
    const = lambda x, t: torch.full_like(x, 0.4)  # noqa: E731
    tau = schedules.timesteps(T, 1, "trailing")
    x_T = samplers.encode(const, x0, ALPHA_BAR, tau)
    torch.testing.assert_close(samplers.sample(const, x_T, ALPHA_BAR, tau), x0)


def test_slerp_properties():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(2, 5, 1, 4, 4, generator=g, dtype=torch.float64)
    torch.testing.assert_close(samplers.slerp(z0, z1, 0.0), z0)
    torch.testing.assert_close(samplers.slerp(z0, z1, 1.0), z1)
    mid = samplers.slerp(z0, z1, 0.5)
    # for equal norms, slerp keeps the norm (lerp would shrink it)
    z1n = z1 / z1.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1) * z0.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
    torch.testing.assert_close(samplers.slerp(z0, z1n, 0.3).flatten(1).norm(dim=1), z0.flatten(1).norm(dim=1))
    assert mid.shape == z0.shape
    torch.testing.assert_close(samplers.slerp(z0, z0, 0.5), z0)  # parallel: falls back to lerp
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        samplers.slerp(z0, z1, 1.5)


def test_bad_input():
    x = torch.zeros(2, 3, dtype=torch.float64)
    tau = schedules.timesteps(T, 10)
    with pytest.raises(ValueError, match="eta must be >= 0"):
        samplers.ddim_sigma(0.5, 0.6, -0.1)
    with pytest.raises(ValueError, match="eta must be >= 0"):
        samplers.sample(linear_eps_model, x, ALPHA_BAR, tau, eta=-1.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        samplers.sample(linear_eps_model, x, ALPHA_BAR, tau.flip(0))
    with pytest.raises(ValueError, match=r"1\.\.T"):
        samplers.sample(linear_eps_model, x, ALPHA_BAR, torch.tensor([0, 10]))
    with pytest.raises(ValueError, match=r"1\.\.T"):
        samplers.encode(linear_eps_model, x, ALPHA_BAR, torch.tensor([10, 1001]))
    with pytest.raises(ValueError, match=r"alpha_bar\[0\] must be 1"):
        samplers.sample(linear_eps_model, x, ALPHA_BAR[1:], tau)
    with pytest.raises(ValueError, match="eps has shape"):
        samplers.sample(lambda x, t: x[:1], x, ALPHA_BAR, tau)
    with pytest.raises(ValueError, match="does not broadcast"):
        samplers.ddim_step(x, x, torch.tensor([0.5, 0.5, 0.5, 0.5]), 0.6, 0.0)
    with pytest.raises(ValueError, match="noise has shape"):
        samplers.ddim_step(x, x, 0.5, 0.6, 0.1, noise=torch.zeros(3))


class ZeroImageModel(torch.nn.Module):
    """eps(x_t, t) = 0 for 1 x 8 x 8 images: every DDIM step is then a scaling plus the step's noise."""

    config = types.SimpleNamespace(in_channels=1, image_size=8)

    def forward(self, x, t):
        return torch.zeros_like(x)


def test_sample_images_noise_is_independent_of_x_T():
    """Regression: seeding the noise generator with the x_T seed made the first noise draw equal to x_T."""
    alpha_bar = schedules.alpha_bars(schedules.linear_betas(1000))
    n = 500
    x0 = samplers.sample_images(ZeroImageModel(), alpha_bar, n, S=2, eta=1.0, seed=0, progress=False).double()
    x_T = torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(0)).double()  # sample_images' x_T
    a = alpha_bar.tolist()  # tau = (1, 501): 501 -> 1 adds sigma z, 1 -> 0 is deterministic (sigma = 0)
    sigma = samplers.ddim_sigma(a[501], a[1], 1.0)
    z = (x0 - x_T / a[501] ** 0.5) * a[1] ** 0.5 / sigma  # x_0 = (sqrt(a_1 / a_501) x_T + sigma z) / sqrt(a_1)
    corr = float((z * x_T).sum() / (z.norm() * x_T.norm()))
    assert abs(corr) < 5 / (z.numel() ** 0.5), corr  # independent: |corr| ~ 1/sqrt(N); the bug gave corr = 1
    assert abs(float(z.std()) - 1) < 5 / (2 * z.numel()) ** 0.5  # standard normal noise


def test_zero_terminal_snr_first_step_takes_x0_from_the_model():
    """At alpha_T = 0, x_T = eps (eq. 4): eq. (12) needs x0_hat from the model (here a v-model), not from eq. (9)."""
    alpha_bar = schedules.alpha_bars(schedules.rescale_zero_terminal_snr(schedules.linear_betas(T)))
    v_model = lambda x, t: 0.5 * x - 0.2  # noqa: E731 - any deterministic v-prediction
    model = forward.eps_model_from_v(v_model, alpha_bar)
    x_T = torch.randn(5, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    tau = schedules.timesteps(T, 4, "trailing")  # 250, 500, 750, 1000
    seen = {}
    samplers.sample(model, x_T, alpha_bar, tau, callback=lambda i, t, x, x0_hat: seen.setdefault(t, (x, x0_hat)))
    x_750, x0_hat = seen[T]
    torch.testing.assert_close(x0_hat, -v_model(x_T, None))  # x_0 = sqrt(a) x_t - sqrt(1 - a) v = -v at a = 0
    a = float(alpha_bar[750])
    torch.testing.assert_close(x_750, a**0.5 * x0_hat + (1 - a) ** 0.5 * x_T)  # eta = 0: eps = x_T
    with pytest.raises(ValueError, match="zero terminal SNR"):
        samplers.sample(lambda x, t: x, x_T, alpha_bar, tau)
