"""Self-checks of notebooks/09's exercises: right answers pass, the usual slips get a hint and fail."""

import torch

from ddim_ref import analytic, checks, schedules

F64 = torch.float64
ALPHA_BAR = schedules.alpha_bars(schedules.linear_betas(1000))


def _mixture():
    """Three classes in R^2, class 0 with two components (the mixture of tests/test_guidance.py)."""
    weights = torch.tensor([0.2, 0.3, 0.1, 0.4], dtype=F64)
    means = torch.tensor([[-1.5, 0.0], [1.5, 0.5], [-0.5, 1.5], [0.0, -1.5]], dtype=F64)
    covs = torch.stack([0.10 * torch.eye(2, dtype=F64), torch.tensor([[0.20, 0.05], [0.05, 0.10]], dtype=F64),
                        0.05 * torch.eye(2, dtype=F64), 0.15 * torch.eye(2, dtype=F64)])
    return analytic.GaussianMixture(weights, means, covs, ALPHA_BAR, labels=[0, 1, 0, 2])


def _guided_eps_by_autograd(mix, x, t, y, w):
    """-sqrt(1 - a) grad log[q_t(x | y)^(1 + w) q_t(x)^(-w)], independently of guidance.classifier_free."""
    x = x.clone().requires_grad_()
    tb = torch.full((x.shape[0],), t)
    log_p = (1 + w) * mix.class_log_prob(x, y, tb) - w * mix.log_prob(x, tb)
    (score,) = torch.autograd.grad(log_p.sum(), x)
    return -(1 - float(ALPHA_BAR[t])) ** 0.5 * score


def test_guided_eps_check_accepts_the_autograd_answer(capsys):
    mix = _mixture()
    x = torch.randn(9, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    for t, y, w in [(50, 0, 2.0), (400, 2, 0.5), (5, 1, 0.0)]:
        assert checks.check_guided_eps_from_score(_guided_eps_by_autograd(mix, x, t, y, w), mix, x, t, y, w)
    assert "Correct" in capsys.readouterr().out


def test_guided_eps_check_rejects_slips_with_hints(capsys):
    mix = _mixture()
    x = torch.randn(9, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    t, y, w = 200, 0, 3.0
    right = _guided_eps_by_autograd(mix, x, t, y, w)
    a = float(ALPHA_BAR[t])
    tb = torch.full((9,), t)
    cond, uncond = mix.conditional_eps_model(x, tb, y), mix.conditional_eps_model(x, tb)
    slips = {"score of the sharpened": -right / (1 - a) ** 0.5, "sign": -right, "standard deviation": right * (1 - a) ** 0.5,
             "w = 0": cond, "diffusers": w * cond + (1 - w) * uncond, "shape": right[:, 0], "autograd": right + 0.01}
    for word, answer in slips.items():
        assert not checks.check_guided_eps_from_score(answer, mix, x, t, y, w)
        out = capsys.readouterr().out
        assert "Not yet" in out and word in out, (word, out)
    assert not checks.check_guided_eps_from_score("no", mix, x, t, y, w)


def _step(eps_model, x_s, s, t, alpha_bar, K):
    """A right answer, written from the implicit equation."""
    a_s, a_t = float(alpha_bar[s]), float(alpha_bar[t])
    t_batch = torch.full((x_s.shape[0],), t, dtype=torch.long)
    x_t = x_s
    for _ in range(K + 1):
        e = eps_model(x_t, t_batch)
        x_t = (a_t / a_s) ** 0.5 * (x_s - (1 - a_s) ** 0.5 * e) + (1 - a_t) ** 0.5 * e
    return x_t


def test_fixed_point_check_accepts_a_right_step(capsys):
    assert checks.check_fixed_point_inversion_step(_step)
    assert "Correct" in capsys.readouterr().out


def test_fixed_point_check_rejects_slips_with_hints(capsys):
    def one_less(eps_model, x_s, s, t, alpha_bar, K):
        return _step(eps_model, x_s, s, t, alpha_bar, max(K - 1, 0)) if K > 0 else _step(eps_model, x_s, s, t, alpha_bar, 1)

    def usual(eps_model, x_s, s, t, alpha_bar, K):
        return _step(eps_model, x_s, s, t, alpha_bar, 0)

    def label_s(eps_model, x_s, s, t, alpha_bar, K):
        return _step(lambda x, tt: eps_model(x, torch.full_like(tt, s)), x_s, s, t, alpha_bar, K)

    def crash(eps_model, x_s, s, t, alpha_bar, K):
        raise RuntimeError("boom")

    for fn, word in [(one_less, "one iteration off"), (usual, "one iteration off"), (label_s, "label t"), (crash, "boom"),
                     (lambda *a: _step(*a)[:, 0], "shape")]:
        assert not checks.check_fixed_point_inversion_step(fn)
        out = capsys.readouterr().out
        assert "Not yet" in out and word in out, (word, out)
