"""Self-check of notebooks/03's Tweedie exercise: right answers pass, the usual slips get a hint and fail."""

import torch

from ddim_ref import analytic, checks, schedules

F64 = torch.float64
ALPHA_BAR = schedules.alpha_bars(schedules.linear_betas(50, 2e-3, 0.4))


def _mixture():
    return analytic.GaussianMixture(torch.tensor([0.3, 0.7], dtype=F64), torch.tensor([[-1.0], [1.5]], dtype=F64),
                                    torch.tensor([[[0.2]], [[0.1]]], dtype=F64), ALPHA_BAR)


def _tweedie(data, x_t, t):
    """E[x_0 | x_t] by autograd of log_prob, independently of the check's eps* route."""
    x = x_t.clone().requires_grad_()
    (score,) = torch.autograd.grad(data.log_prob(x, t).sum(), x)
    a = float(ALPHA_BAR[t])
    return (x_t + (1 - a) * score) / a**0.5


def test_tweedie_check_accepts_the_right_answer_for_every_kind(capsys):
    g = torch.Generator().manual_seed(0)
    datasets = (_mixture(), analytic.Gaussian(torch.tensor([0.5, -1.0], dtype=F64), torch.eye(2, dtype=F64) * 0.3, ALPHA_BAR),
                analytic.FiniteData(torch.randn(5, 2, generator=g, dtype=F64), ALPHA_BAR))
    for data, D in zip(datasets, (1, 2, 2)):
        x_t = torch.randn(7, D, generator=g, dtype=F64)
        for t in (1, 12, 50):
            assert checks.check_tweedie_posterior_mean(_tweedie(data, x_t, t), data, x_t, t)
    assert "Correct" in capsys.readouterr().out


def test_tweedie_check_rejects_slips_with_hints(capsys):
    data = _mixture()
    x_t = torch.linspace(-2, 2, 9, dtype=F64)[:, None]
    t = 20
    right = _tweedie(data, x_t, t)
    a = float(ALPHA_BAR[t])
    x = x_t.clone().requires_grad_()
    (score,) = torch.autograd.grad(data.log_prob(x, t).sum(), x)
    slips = {"sqrt(alpha_t)": right * a**0.5, "sign": (x_t - (1 - a) * score) / a**0.5,
             "noise variance": (x_t + (1 - a) ** 0.5 * score) / a**0.5, "shape": right[:, 0], "autograd": right + 0.1}
    for word, answer in slips.items():
        assert not checks.check_tweedie_posterior_mean(answer, data, x_t, t)
        out = capsys.readouterr().out
        assert "Not yet" in out and word in out, (word, out)
