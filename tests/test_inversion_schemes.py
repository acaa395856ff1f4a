"""The comparison schemes of notebooks/05: eq. (15) (Euler steps in sigma^2) and explicit-Euler encoding."""

import math

import pytest
import torch

from ddim_ref import analytic, samplers, schedules

T = 1000
ALPHA_BAR = schedules.alpha_bars(schedules.linear_betas(T))
AB = ALPHA_BAR.tolist()
SIGMA = [((1 - a) / a) ** 0.5 for a in AB]
F64 = torch.float64
GAUSS = analytic.Gaussian(torch.tensor([1.0, -0.5], dtype=F64), torch.tensor([[0.8, 0.3], [0.3, 0.2]], dtype=F64), ALPHA_BAR)


def exact_flow_x0(x_start, t0):
    """Exact solution of the ODE (14) for Gaussian data from x_{t0} down to sigma = 0 (notebooks/05, section 3)."""
    lam, U = torch.linalg.eigh(GAUSS.cov)
    M = U @ torch.diag((lam / (lam + SIGMA[t0] ** 2)).sqrt()) @ U.T
    return GAUSS.mean + (x_start / AB[t0] ** 0.5 - GAUSS.mean) @ M.T


def exact_flow_latent(x0, t):
    """Exact solution of the ODE (14) for Gaussian data from x_0 up to time t: y_i grows by sqrt((lam_i + sigma^2) / lam_i)."""
    lam, U = torch.linalg.eigh(GAUSS.cov)
    M = U @ torch.diag(((lam + SIGMA[t] ** 2) / lam).sqrt()) @ U.T
    return AB[t] ** 0.5 * (GAUSS.mean + (x0 - GAUSS.mean) @ M.T)


def rms(a, b):
    return float(((a - b) ** 2).sum(1).mean().sqrt())


def recording(model):
    """Wrap an eps-model so that `.labels` lists the time label of every call."""
    def wrapped(x, t):
        wrapped.labels.append(int(t[0]))
        return model(x, t)
    wrapped.labels = []
    return wrapped


def test_eq15_step_is_the_formula_of_the_paper():
    g = torch.Generator().manual_seed(0)
    for t, s in [(1000, 900), (500, 499), (101, 1), (1, 0)]:
        x_t, eps = torch.randn(3, 4, generator=g, dtype=F64), torch.randn(3, 4, generator=g, dtype=F64)
        expected = AB[s] ** 0.5 * (x_t / AB[t] ** 0.5
                                   + 0.5 * ((1 - AB[s]) / AB[s] - (1 - AB[t]) / AB[t]) * (AB[t] / (1 - AB[t])) ** 0.5 * eps)
        torch.testing.assert_close(samplers.euler_sigma2_step(x_t, eps, AB[t], AB[s]), expected, rtol=1e-12, atol=1e-12)
        # per-sample coefficients (B, 1) give the same result
        got = samplers.euler_sigma2_step(x_t, eps, torch.full((3, 1), AB[t], dtype=F64), torch.full((3, 1), AB[s], dtype=F64))
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_eq15_agrees_with_ddim_to_first_order_only():
    """Per unit of sigma travelled the two steps differ by (sigma_t - sigma_s) / (2 sigma_t) eps: tiny for a step
    between neighbouring large t, one half on the last step to t = 0, where eq. (15) removes half of sigma_1 eps."""
    g = torch.Generator().manual_seed(1)
    x_t, eps = torch.randn(5, 3, generator=g, dtype=F64), torch.randn(5, 3, generator=g, dtype=F64)
    for t, s in [(900, 899), (1, 0)]:
        ddim, _ = samplers.ddim_step(x_t, eps, AB[t], AB[s], 0.0)
        diff = (samplers.euler_sigma2_step(x_t, eps, AB[t], AB[s]) - ddim) / AB[s] ** 0.5  # in x-bar units
        predicted = (SIGMA[t] - SIGMA[s]) ** 2 / (2 * SIGMA[t]) * eps
        torch.testing.assert_close(diff, predicted, rtol=1e-9, atol=1e-12)
    last = samplers.euler_sigma2_step(x_t, eps, AB[1], 1.0)
    torch.testing.assert_close(last, x_t / AB[1] ** 0.5 - SIGMA[1] / 2 * eps, rtol=1e-12, atol=1e-12)


def test_sample_euler_sigma2_is_the_loop_of_its_step_and_differs_from_ddim_at_S_equal_T():
    x_T = torch.randn(200, 2, generator=torch.Generator().manual_seed(2), dtype=F64)
    tau = schedules.timesteps(T, 7, "quadratic")
    model = recording(GAUSS.eps_model)
    x = x_T
    ts = tau.flip(0).tolist()
    for t, s in zip(ts, ts[1:] + [0]):
        x = samplers.euler_sigma2_step(x, GAUSS.eps_model(x, torch.full((200,), t)), AB[t], AB[s])
    torch.testing.assert_close(samplers.sample_euler_sigma2(model, x_T, ALPHA_BAR, tau), x, rtol=0, atol=0)
    assert model.labels == ts  # one call per step, at the step's start
    # exact eps*: first order in the step, but on all T steps it still misses the exact flow by far more than DDIM
    full = schedules.timesteps(T, T, "uniform")
    exact = exact_flow_x0(x_T, T)
    err_15 = rms(samplers.sample_euler_sigma2(GAUSS.eps_model, x_T, ALPHA_BAR, full), exact)
    err_ddim = rms(samplers.sample(GAUSS.eps_model, x_T, ALPHA_BAR, full), exact)
    assert err_15 > 3 * err_ddim, (err_15, err_ddim)


def test_sample_euler_sigma2_converges_at_first_order():
    x_T = torch.randn(500, 2, generator=torch.Generator().manual_seed(3), dtype=F64)
    errors = []
    for S in (25, 50, 100, 200):  # divisors of T: tau_S = T - T / S + 1 moves little
        tau = schedules.timesteps(T, S, "uniform")
        errors.append(rms(samplers.sample_euler_sigma2(GAUSS.eps_model, x_T, ALPHA_BAR, tau), exact_flow_x0(x_T, int(tau[-1]))))
    slopes = [math.log2(a / b) for a, b in zip(errors, errors[1:])]
    assert all(0.8 < r < 1.3 for r in slopes), (errors, slopes)


def test_encode_explicit_euler_labels_and_first_step():
    """Network times: tau_1 (the first step has no network at t = 0), then the start of every step, tau_1..tau_{S-1}."""
    tau = schedules.timesteps(T, 5, "trailing")  # 200, 400, ..., 1000
    model = recording(GAUSS.eps_model)
    x0 = GAUSS.sample(4, torch.Generator().manual_seed(4))
    samplers.encode_explicit_euler(model, x0, ALPHA_BAR, tau)
    assert model.labels == [200, 200, 400, 600, 800]
    usual = recording(GAUSS.eps_model)
    samplers.encode(usual, x0, ALPHA_BAR, tau)
    assert usual.labels == [200, 400, 600, 800, 1000]
    one = schedules.timesteps(T, 1, "trailing")  # a single step: both schemes are the same call
    torch.testing.assert_close(samplers.encode_explicit_euler(GAUSS.eps_model, x0, ALPHA_BAR, one),
                               samplers.encode(GAUSS.eps_model, x0, ALPHA_BAR, one), rtol=0, atol=0)


def test_label_choice_cancels_a_time_dependent_eps_that_explicit_euler_does_not():
    """eps(x, t) = c(t), independent of x: the usual inversion uses c(tau_i) on the way up and the decoder the same
    c(tau_i) on the way down, so decode(encode(x0)) = x0 exactly; explicit Euler uses c(tau_{i-1}) and does not."""
    def eps_of_t(x, t):
        return torch.sin(t.to(x.dtype) / 150)[:, None].expand_as(x).clone()

    tau = schedules.timesteps(T, 10, "uniform")
    x0 = GAUSS.sample(6, torch.Generator().manual_seed(5))
    rec_usual = samplers.sample(eps_of_t, samplers.encode(eps_of_t, x0, ALPHA_BAR, tau), ALPHA_BAR, tau)
    rec_explicit = samplers.sample(eps_of_t, samplers.encode_explicit_euler(eps_of_t, x0, ALPHA_BAR, tau), ALPHA_BAR, tau)
    torch.testing.assert_close(rec_usual, x0, rtol=0, atol=1e-9)
    assert rms(rec_explicit, x0) > 1e-2



@pytest.mark.parametrize("lam, explicit_wins", [(1e-4, True), (1.0, False)])
def test_which_one_step_encoder_reconstructs_better_depends_on_the_variance(lam, explicit_wins):
    """1-D Gaussian data, exact eps*. Along the exact flow eps = sigma z / sqrt(lam + sigma^2) (z fixed), so its change
    with the label (at fixed x) opposes its change along the path where sigma^2 >> lam and adds to it where
    sigma^2 << lam. Explicit Euler's residual holds both changes, the usual inversion's only the second: explicit
    Euler reconstructs better for a variance small against the sigma^2 of the steps, the usual inversion for a large one."""
    data = analytic.Gaussian(torch.tensor([0.3], dtype=F64), torch.tensor([[lam]], dtype=F64), ALPHA_BAR)
    x0 = data.sample(400, torch.Generator().manual_seed(0))
    tau = schedules.timesteps(T, 20, "uniform")
    err = {name: rms(samplers.sample(data.eps_model, encode(data.eps_model, x0, ALPHA_BAR, tau), ALPHA_BAR, tau), x0)
           for name, encode in (("explicit", samplers.encode_explicit_euler), ("usual", samplers.encode))}
    assert (err["explicit"] < 0.8 * err["usual"]) if explicit_wins else (err["usual"] < 0.5 * err["explicit"]), err

def test_three_inversions_on_gaussian_data():
    """Exact eps*: explicit Euler and the usual inversion reconstruct to first order in 1/S, the usual one better;
    fixed-point iterations (iters=K) reconstruct to round-off; none of the three gives the exact flow's latent."""
    x0 = GAUSS.sample(400, torch.Generator().manual_seed(6))
    rec, lat = {}, {}
    for S in (20, 40):
        tau = schedules.timesteps(T, S, "uniform")
        for name, z in [("explicit", samplers.encode_explicit_euler(GAUSS.eps_model, x0, ALPHA_BAR, tau)),
                        ("usual", samplers.encode(GAUSS.eps_model, x0, ALPHA_BAR, tau)),
                        ("fixed point", samplers.encode(GAUSS.eps_model, x0, ALPHA_BAR, tau, iters=30))]:
            rec[name, S] = rms(samplers.sample(GAUSS.eps_model, z, ALPHA_BAR, tau), x0)
            lat[name, S] = rms(z, exact_flow_latent(x0, int(tau[-1])))
    for S in (20, 40):
        assert rec["fixed point", S] < 1e-8 < rec["usual", S] < rec["explicit", S], (S, rec)
    for name in ("explicit", "usual"):
        assert 1.6 < rec[name, 20] / rec[name, 40] < 2.4, (name, rec)
    for name in ("explicit", "usual", "fixed point"):
        assert lat[name, 40] > 1e-3 and 1.6 < lat[name, 20] / lat[name, 40] < 2.4, (name, lat)


@pytest.mark.parametrize("fn", [samplers.sample_euler_sigma2, samplers.encode_explicit_euler])
def test_bad_arguments(fn):
    x = torch.zeros(2, 2, dtype=F64)
    with pytest.raises(ValueError, match="tau"):
        fn(GAUSS.eps_model, x, ALPHA_BAR, torch.tensor([5, 3]))
    with pytest.raises(ValueError, match="shape"):
        fn(lambda x, t: x[:, :1], x, ALPHA_BAR, schedules.timesteps(T, 3, "uniform"))


def test_inversion_errors_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ddim_ref import plotting

    fig = plotting.make_inversion_errors_figure([10, 20], {"a": [1.0, 0.5], "b": [0.2, 0.0]}, {"a": [0.1, 0.05], "b": [0.0, 0.0]},
                                                title="t")
    assert len(fig.axes) == 2 and [len(ax.lines) for ax in fig.axes] == [3, 2]  # a value 0 is not drawn on log axes
    plt.close(fig)
