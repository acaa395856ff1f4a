"""Schedules: alpha_bar properties and exact sub-sequence values (notebooks/01, notebooks/04)."""

import numpy as np
import pytest
import torch

from ddim_ref import schedules


@pytest.mark.parametrize("make", [schedules.linear_betas, schedules.cosine_betas])
def test_alpha_bar_properties(make):
    betas = make(T=1000)
    alpha_bar = schedules.alpha_bars(betas)
    assert alpha_bar.dtype == torch.float64 and alpha_bar.shape == (1001,)
    assert alpha_bar[0] == 1.0
    assert bool((alpha_bar[1:] < alpha_bar[:-1]).all()), "alpha_t must decrease strictly"
    assert 0 < float(alpha_bar[-1]) < 1e-3, "x_T must be almost pure noise"
    # 1 - beta_t = alpha_t / alpha_{t-1}: the DDPM/DDIM notation mapping
    torch.testing.assert_close(alpha_bar[1:] / alpha_bar[:-1], 1 - betas, rtol=1e-12, atol=0)


def test_linear_betas_endpoints():
    betas = schedules.linear_betas(T=1000)
    assert betas[0] == pytest.approx(1e-4) and betas[-1] == pytest.approx(0.02)
    torch.testing.assert_close(betas.diff(), torch.full((999,), (0.02 - 1e-4) / 999, dtype=torch.float64))


def test_cosine_alpha_bar_follows_cos_squared():
    T, s = 1000, 0.008
    alpha_bar = schedules.alpha_bars(schedules.cosine_betas(T, s=s))
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((t / T + s) / (1 + s) * torch.pi / 2) ** 2
    # equal to f(t)/f(0) wherever the 0.999 clip of beta is inactive (all but the last steps)
    torch.testing.assert_close(alpha_bar[:990], (f / f[0])[:990], rtol=1e-10, atol=1e-12)


def test_snr_decreases():
    alpha_bar = schedules.alpha_bars(schedules.linear_betas())
    snr = schedules.snr(alpha_bar)
    assert torch.isinf(snr[0]) and bool((snr[2:] < snr[1:-1]).all())


@pytest.mark.parametrize(
    "T, S, spacing, expected",
    [
        (1000, 10, "uniform", [1, 101, 201, 301, 401, 501, 601, 701, 801, 901]),
        (1000, 3, "uniform", [1, 334, 667]),  # official range(0, 1000, 333) has a 4th element (999): we keep S
        (10, 10, "uniform", list(range(1, 11))),
        (1000, 10, "quadratic", [1, 10, 40, 89, 159, 247, 356, 484, 633, 801]),
        (1000, 10, "trailing", [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]),
        (10, 4, "trailing", [3, 5, 8, 10]),  # 2.5 and 7.5 round half-up
        (1000, 10, "linspace", [1, 112, 223, 334, 445, 556, 667, 778, 889, 1000]),
        (10, 4, "linspace", [1, 4, 7, 10]),
        (1000, 1, "linspace", [1]),
        (1000, 1, "trailing", [1000]),
    ],
)
def test_timesteps_exact_values(T, S, spacing, expected):
    tau = schedules.timesteps(T, S, spacing)
    assert tau.dtype == torch.int64
    assert tau.tolist() == expected


def official_quad(T, S):
    """The official DDIM code's `quad` skip type, 0-based, repeats included."""
    seq = np.linspace(0, np.sqrt(T * 0.8), S) ** 2
    return [int(s) for s in list(seq)]


@pytest.mark.parametrize("T, S", [(1000, 10), (1000, 50), (1000, 100), (1000, 200), (100, 50)])
def test_quadratic_is_official_quad_shifted_without_repeats(T, S):
    official = official_quad(T, S)
    tau = schedules.timesteps(T, S, "quadratic").tolist()
    assert tau == sorted({s + 1 for s in official})
    has_repeats = len(set(official)) < len(official)
    assert (len(tau) < S) == has_repeats


def test_quadratic_rounding_repeats_are_dropped():
    official = official_quad(1000, 100)
    assert official[:4] == [0, 0, 0, 0], "the official code repeats t = 0 four times at S = 100"
    tau = schedules.timesteps(1000, 100, "quadratic")
    assert tau[:4].tolist() == [1, 2, 3, 4] and len(tau) == len(set(official)) == 96


@pytest.mark.parametrize("spacing", schedules.SPACINGS)
@pytest.mark.parametrize("T, S", [(1000, 1), (1000, 7), (1000, 50), (1000, 1000), (37, 36), (5, 5)])
def test_timesteps_always_valid(spacing, T, S):
    tau = schedules.timesteps(T, S, spacing)
    assert 1 <= int(tau.min()) and int(tau.max()) <= T
    assert bool((tau.diff() > 0).all())
    if spacing != "quadratic":
        assert len(tau) == S
    if spacing == "trailing":
        assert int(tau[-1]) == T
    if spacing == "uniform":
        assert int(tau[0]) == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(T=1000, S=1001), "1 <= S <= T"),
        (dict(T=1000, S=0), "1 <= S <= T"),
        (dict(T=1000, S=2.5), "integer"),
        (dict(T=0, S=1), "T must be a positive integer"),
        (dict(T=1000, S=10, spacing="cosine"), "unknown spacing 'cosine'; allowed: uniform, quadratic, trailing, linspace"),
    ],
)
def test_timesteps_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        schedules.timesteps(**kwargs)


@pytest.mark.parametrize(
    "tau, match",
    [
        ([1, 5, 5, 9], "strictly increasing"),
        ([9, 5, 1], "strictly increasing"),
        ([0, 5, 9], r"1\.\.T"),
        ([1, 5, 11], r"1\.\.T"),
        ([1.0, 2.0], "integers"),
        ([[1, 2]], "1-D"),
    ],
)
def test_check_tau_bad_input(tau, match):
    with pytest.raises(ValueError, match=match):
        schedules.check_tau(torch.tensor(tau), T=10)


def test_bad_betas():
    with pytest.raises(ValueError, match="open interval"):
        schedules.alpha_bars(torch.tensor([1.0, 0.1]))  # beta = 1 only at t = T (zero terminal SNR)
    with pytest.raises(ValueError, match="open interval"):
        schedules.alpha_bars(torch.tensor([0.1, 1.5]))
    with pytest.raises(ValueError, match="beta_start"):
        schedules.linear_betas(100, beta_start=0.02, beta_end=1e-4)


@pytest.mark.parametrize("make", [schedules.linear_betas, schedules.cosine_betas])
def test_rescale_zero_terminal_snr(make):
    """Lin et al. (2024), Algorithm 1: sqrt(alpha_t) shifted and scaled so that alpha_T = 0 and alpha_1 is kept."""
    betas = make(T=1000)
    new = schedules.rescale_zero_terminal_snr(betas)
    assert new.dtype == torch.float64 and new.shape == (1000,)
    assert float(new[-1]) == 1.0 and bool(((new[:-1] > 0) & (new[:-1] < 1)).all())
    old_ab, new_ab = schedules.alpha_bars(betas), schedules.alpha_bars(new)
    assert float(new_ab[-1]) == 0.0 and float(new_ab[0]) == 1.0
    assert bool((new_ab[1:] < new_ab[:-1]).all()), "alpha_t still decreases strictly"
    assert float(new_ab[1]) == pytest.approx(float(old_ab[1]), rel=1e-14)
    # sqrt(alpha_t) is an affine function of the original sqrt(alpha_t), t = 1..T
    x, y = old_ab[1:].sqrt(), new_ab[1:].sqrt()
    slope = (y[0] - y[-1]) / (x[0] - x[-1])
    torch.testing.assert_close(y, y[-1] + slope * (x - x[-1]), rtol=0, atol=1e-14)
    assert float(slope) > 1  # stretched: every alpha_t with 1 < t < T moves down
    torch.testing.assert_close(schedules.rescale_zero_terminal_snr(new), new, rtol=0, atol=1e-15)  # idempotent
    assert schedules.check_alpha_bar(new_ab) == 1000
    assert float(schedules.snr(new_ab)[-1]) == 0.0


def test_zero_alpha_bar_only_at_T():
    ab = schedules.alpha_bars(schedules.rescale_zero_terminal_snr(schedules.linear_betas(10)))
    bad = ab.clone()
    bad[5] = 0.0
    with pytest.raises(ValueError, match="only alpha_bar\\[T\\] may be 0"):
        schedules.check_alpha_bar(bad)
    with pytest.raises(ValueError, match="alpha_1 > alpha_T"):
        schedules.rescale_zero_terminal_snr(torch.tensor([0.5], dtype=torch.float64))
