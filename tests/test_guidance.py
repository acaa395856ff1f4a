"""Classifier-free guidance as a composition of eps-models, and the sharpened density it aims at (notebooks/09)."""

import pytest
import torch

from ddim_ref import analytic, guidance, samplers, schedules
from ddim_ref.unet import UNet, UNetConfig

T = 1000
ALPHA_BAR = schedules.alpha_bars(schedules.linear_betas(T))
F64 = torch.float64


def make_mixture_2d():
    """Three classes in R^2; class 0 has two components (labels 0, 1, 0, 2)."""
    weights = torch.tensor([0.2, 0.3, 0.1, 0.4], dtype=F64)
    means = torch.tensor([[-1.5, 0.0], [1.5, 0.5], [-0.5, 1.5], [0.0, -1.5]], dtype=F64)
    covs = torch.stack([0.10 * torch.eye(2, dtype=F64), torch.tensor([[0.20, 0.05], [0.05, 0.10]], dtype=F64),
                        0.05 * torch.eye(2, dtype=F64), 0.15 * torch.eye(2, dtype=F64)])
    return analytic.GaussianMixture(weights, means, covs, ALPHA_BAR, labels=[0, 1, 0, 2])


def make_mixture_1d():
    """Two overlapping classes on the line: N(-1, 0.5^2) and N(1, 0.5^2), equal weights."""
    return analytic.GaussianMixture(torch.tensor([0.5, 0.5], dtype=F64), torch.tensor([[-1.0], [1.0]], dtype=F64),
                                    torch.full((2, 1, 1), 0.25, dtype=F64), ALPHA_BAR)


class RandomConditional:
    """A random nonlinear conditional model eps(x, t, y) with num_classes = 3 and null label 3; counts its calls."""

    num_classes = 3

    def __init__(self, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.W = torch.randn(4, 2, 2, generator=g, dtype=F64)  # (C + 1, D, D): row 3 is the null label
        self.calls = []

    def __call__(self, x, t, y=None):
        self.calls.append(x.shape[0])
        y = torch.full((x.shape[0],), 3) if y is None else y
        return torch.tanh(torch.einsum("bd,bde->be", x, self.W[y])) + t[:, None] / T  # (B, D)


def test_guided_eps_is_the_linear_combination_and_w0_is_the_conditional_model():
    model = RandomConditional()
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(6, 2, generator=g, dtype=F64), torch.randint(1, T + 1, (6,), generator=g)
    for y in (1, torch.tensor([0, 1, 2, 2, 1, 0])):
        y_b = torch.full((6,), y) if isinstance(y, int) else y
        cond, uncond = model(x, t, y_b), model(x, t)
        model.calls.clear()
        assert torch.equal(guidance.classifier_free(model, y, 0)(x, t), cond)  # w = 0: exactly the conditional model
        assert model.calls == [6]  # ... with one call
        for w in (0.5, 1, 3.0):
            model.calls.clear()
            guided = guidance.classifier_free(model, y, w)(x, t)
            assert torch.equal(guided, (1 + w) * cond - w * uncond)
            assert model.calls == [6, 6]  # two network evaluations per guided call
            model.calls.clear()
            batched = guidance.classifier_free(model, y, w, null_label=3)(x, t)
            assert model.calls == [12]  # one call of batch 2B
            torch.testing.assert_close(batched, guided, rtol=1e-14, atol=1e-14)


def test_guided_mixture_field_is_the_score_of_the_sharpened_density():
    """eps_w = -sqrt(1 - a) grad log[q_t(x | y)^(1+w) q_t(x)^(-w)] (autograd of sharpened_log_prob), batched or not."""
    data = make_mixture_2d()
    g = torch.Generator().manual_seed(1)
    t = torch.randint(1, T + 1, (25,), generator=g)
    x = (torch.randn(25, 2, generator=g, dtype=F64) * 2).requires_grad_()
    for y, w in [(0, 2.0), (2, 0.5)]:
        (score,) = torch.autograd.grad(guidance.sharpened_log_prob(data, x, y, w, t).sum(), x)
        expected = -(1 - ALPHA_BAR[t])[:, None].sqrt() * score
        torch.testing.assert_close(guidance.classifier_free(data.conditional_eps_model, y, w)(x.detach(), t), expected,
                                   rtol=1e-10, atol=1e-10)
        batched = guidance.classifier_free(data.conditional_eps_model, y, w, null_label=data.num_classes)
        torch.testing.assert_close(batched(x.detach(), t), expected, rtol=1e-10, atol=1e-10)


def test_w0_sampling_recovers_the_class():
    """Exact eps*(. | y), w = 0, DDPM (eta = 1) on the full schedule: samples follow p(x | y), 5 standard errors.

    Class 0 has two components, so p(x | 0) is itself a mixture: mean, covariance and the 2 : 1 split between
    its modes are checked. (A one-component class has exactly the Gaussian eps*, tests/test_analytic.py, whose
    sampling tests/test_sampling_analytic.py covers.)

    Why this setting converges: on all T steps the discretisation error of eta = 1 is below 3 % of the covariance
    for Gaussian data (tests/test_sampling_analytic.py), under the Monte Carlo error here, and eta = 1 forgets
    the mismatch between x_T ~ N(0, I) and q(x_T | y) (mean sqrt(alpha_T) m) that eta = 0 would carry to x_0.
    """
    data = make_mixture_2d()
    n, tau = 3000, schedules.timesteps(T, T, "uniform")
    g = torch.Generator().manual_seed(2)
    y = 0
    model = guidance.classifier_free(data.conditional_eps_model, y, 0)
    x0 = samplers.sample(model, torch.randn(n, 2, generator=g, dtype=F64), ALPHA_BAR, tau, eta=1.0, generator=g)
    cls = data.given(y)  # p(x | y) as a mixture of its own
    mean = cls.weights @ cls.means  # (D,)
    second = torch.einsum("k,kde->de", cls.weights, cls.covs + cls.means[:, :, None] * cls.means[:, None, :])
    cov = second - torch.outer(mean, mean)  # (D, D)
    assert torch.all((x0.mean(0) - mean).abs() < 5 * x0.std(0) / n**0.5), (x0.mean(0), mean)
    c = x0 - x0.mean(0)
    prods = c[:, :, None] * c[:, None, :]  # (n, D, D): the sample covariance is their mean
    assert torch.all((prods.mean(0) - cov).abs() < 5 * prods.std(0) / n**0.5), (prods.mean(0), cov)
    freq = float((cls.responsibilities(x0).argmax(1) == 0).double().mean())  # the modes keep their weights 2 : 1
    p = float(cls.weights[0])
    assert abs(freq - p) < 5 * (p * (1 - p) / n) ** 0.5, (freq, p)


def test_sharpening_does_not_commute_with_diffusion():
    """The CFG field is not the eps* of the forward process started at p_w = p(x|y)^(1+w) p(x)^(-w) / Z.

    sharpened_eps_model computes the latter by quadrature. At w = 0 both are eps*(x_t | y) (checks the quadrature);
    at w = 3 they agree as t -> 0 (both tend to the score of p_w) and differ by O(1) at intermediate t.
    """
    data = make_mixture_1d()
    x = torch.linspace(-2.5, 0.5, 31, dtype=F64)[:, None]  # the bulk of class 0 and the region between the classes
    for w in (0, 3):
        cfg = guidance.classifier_free(data.conditional_eps_model, 0, w)
        exact = guidance.sharpened_eps_model(data, 0, w)
        gap = {t: float((cfg(x, torch.full((31,), t)) - exact(x, torch.full((31,), t))).abs().max()) for t in (1, 100, 300)}
        if w == 0:
            assert max(gap.values()) < 1e-9, gap  # measured 2e-14
        else:
            assert gap[100] > 1.0 and gap[300] > 1.0, gap  # measured 4.4 and 2.9
            assert gap[1] < 0.01, gap  # measured 9e-4


def test_guided_samples_do_not_follow_the_sharpened_density():
    """DDPM with the CFG field (w = 3) over-sharpens: its mean is many standard errors beyond p_w's; w = 0 is on target."""
    data = make_mixture_1d()
    n, tau = 2000, schedules.timesteps(T, T, "uniform")
    g = torch.Generator().manual_seed(3)
    for w in (0, 3):
        x0 = samplers.sample(guidance.classifier_free(data.conditional_eps_model, 0, w),
                             torch.randn(n, 1, generator=g, dtype=F64), ALPHA_BAR, tau, eta=1.0, generator=g)
        mean, cov, _ = guidance.sharpened_moments(data, 0, w)
        z = float((x0.mean() - mean[0]) / (x0.std() / n**0.5))
        assert (abs(z) < 5) if w == 0 else (z < -8), (w, z)  # measured z = 0.07 (w = 0) and -25 (w = 3)


def test_sharpened_grid_moments_and_samples():
    """At w = 0 the grid gives the class mixture's own moments; at w > 0 sharpened_sample matches sharpened_moments."""
    data = make_mixture_2d()
    cls = data.given(0)
    mean, cov, modes = guidance.sharpened_moments(data, 0, 0)
    exact_mean = cls.weights @ cls.means
    exact_cov = torch.einsum("k,kde->de", cls.weights, cls.covs + cls.means[:, :, None] * cls.means[:, None, :])
    torch.testing.assert_close(mean, exact_mean, rtol=0, atol=1e-9)
    torch.testing.assert_close(cov, exact_cov - torch.outer(exact_mean, exact_mean), rtol=0, atol=1e-9)
    assert float(modes.sum()) == pytest.approx(1.0, abs=1e-12)
    # sharpening moves mass away from the other classes: class 0's two modes gain, the others lose
    _, _, sharp = guidance.sharpened_moments(data, 0, 4)
    assert float(sharp[0] + sharp[2]) > float(modes[0] + modes[2])
    n = 20_000
    mean_w, cov_w, _ = guidance.sharpened_moments(data, 0, 4)
    xs = guidance.sharpened_sample(data, 0, 4, n, torch.Generator().manual_seed(4))
    assert torch.all((xs.mean(0) - mean_w).abs() < 5 * cov_w.diagonal().sqrt() / n**0.5)
    c = xs - xs.mean(0)
    prods = c[:, :, None] * c[:, None, :]  # (n, D, D); the uniform jitter in a cell adds h^2 / 12 ~ 3e-5, far below the error
    assert torch.all((prods.mean(0) - cov_w).abs() < 5 * prods.std(0) / n**0.5)


def test_classifier_free_with_a_conditional_unet():
    """The real network interface: batch shapes, int and per-sample labels, the null label, one batched call, samplers."""
    torch.manual_seed(0)
    cfg = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attn_resolutions=(4,), image_size=8,
                     num_groups=4, num_heads=2, T=50, num_classes=3)
    model = UNet(cfg).eval()
    with torch.no_grad():  # a non-zero output layer (it is zero at initialisation)
        model.conv_out.weight.copy_(0.1 * torch.randn(model.conv_out.weight.shape))
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(4, 1, 8, 8, generator=g), torch.randint(1, 51, (4,), generator=g)  # (B, C, H, W), (B,)
    with torch.no_grad():
        uncond = model(x, t)
        torch.testing.assert_close(model(x, t, torch.full((4,), 3)), uncond)  # y=None is label num_classes
        for y in (2, torch.tensor([0, 1, 2, 0])):
            y_b = torch.full((4,), y) if isinstance(y, int) else y
            cond = model(x, t, y_b)
            assert (cond - uncond).abs().max() > 1e-3  # the label matters
            guided = guidance.classifier_free(model, y, 1.5)(x, t)
            assert guided.shape == x.shape and guided.dtype == x.dtype
            torch.testing.assert_close(guided, 2.5 * cond - 1.5 * uncond)
            torch.testing.assert_close(guidance.classifier_free(model, y, 1.5, null_label=3)(x, t), guided)
        ab = schedules.alpha_bars(schedules.linear_betas(50, 1e-3, 0.2))
        x0 = samplers.sample(guidance.classifier_free(model, 1, 2.0, null_label=3), x, ab, schedules.timesteps(50, 5))
        assert x0.shape == x.shape and bool(torch.isfinite(x0).all())
    with pytest.raises(ValueError, match="unconditional"):
        guidance.classifier_free(UNet(UNetConfig(**{**cfg.to_dict(), "num_classes": 0})), 0, 1.0)
    with pytest.raises(ValueError, match="null label"):
        guidance.classifier_free(model, 3, 1.0)  # guiding towards the null label
    with pytest.raises(ValueError, match="null label is num_classes = 3"):
        guidance.classifier_free(model, 0, 1.0, null_label=2)


def test_bad_arguments_raise_value_error():
    data, model = make_mixture_2d(), RandomConditional()
    for w in (-0.1, float("inf"), float("nan"), True, "2", None):
        with pytest.raises(ValueError, match="w must be a finite number >= 0"):
            guidance.classifier_free(model, 0, w)
    with pytest.raises(ValueError, match="takes no label"):
        guidance.classifier_free(data.eps_model, 0, 1.0)  # an unconditional callable eps(x, t)
    with pytest.raises(ValueError, match=r"< num_classes = 3"):
        guidance.classifier_free(data.conditional_eps_model, 5, 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        guidance.classifier_free(model, -1, 1.0)
    with pytest.raises(ValueError, match="LongTensor"):
        guidance.classifier_free(model, torch.zeros(3), 1.0)
    x, t = torch.zeros(4, 2, dtype=F64), torch.full((4,), 5)
    with pytest.raises(ValueError, match="batch has 4 samples"):
        guidance.classifier_free(model, torch.zeros(3, dtype=torch.long), 1.0)(x, t)
    with pytest.raises(ValueError, match="D <= 2"):
        guidance.sharpened_grid(analytic.GaussianMixture(torch.ones(1, dtype=F64), torch.zeros(1, 3, dtype=F64),
                                                         torch.eye(3, dtype=F64)[None], ALPHA_BAR), 0, 1.0)
    with pytest.raises(ValueError, match="w must be"):
        guidance.sharpened_log_prob(data, x, 0, -1.0)
    with pytest.raises(ValueError, match="lo < hi"):
        guidance.sharpened_grid(data, 0, 1.0, lo=1.0, hi=-1.0)


def test_guidance_figures_and_explorer_build():
    """The figure functions of notebooks/09 return figures for small inputs; the explorer builds on a tiny conditional UNet."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ddim_ref import plotting, widgets

    data = make_mixture_2d()
    g = torch.Generator().manual_seed(0)
    figs = [plotting.make_guided_mixture_figure(data, 0, {0: data.given(0).sample(50, g), 2.0: data.given(0).sample(50, g)}, n_grid=41),
            plotting.make_target_gap_figure([10, 20, 50], {"a": [0.3, 0.2, 0.1], "b": [0.5, 0.5, 0.5]}, floor=0.03),
            plotting.make_step_gaps_figure(torch.tensor([1, 51, 101]), {"w = 0": [1e-3, 1e-2, 1e-2]}),
            plotting.make_edit_tradeoff_figure({"SDEdit": {"x": [0.01, 0.05], "y": [0.2, 0.9], "text": ["t0=200", "t0=600"]}}),
            plotting.make_guidance_tradeoff_figure([{"label": y, "w": w, "accuracy": 0.9 + 0.02 * w, "fid": 10 - w,
                                                     "fid_se": 1.0, "spread": 1 - 0.1 * w} for y in (3, 8) for w in (0, 1, 3)])]
    cfg = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attn_resolutions=(14,), image_size=28,
                     num_groups=4, num_heads=2, T=50, num_classes=10)
    model = UNet(cfg).eval()
    ab = schedules.alpha_bars(schedules.linear_betas(50, 1e-3, 0.2))
    figs.append(plotting.make_guided_samples_figure(model, ab, 3, 1.0, S=2, eta=0.5, n=2))
    assert all(isinstance(f, matplotlib.figure.Figure) for f in figs)
    box = widgets.guidance_explorer(model, ab, n=2, S_values=(2, 5))
    assert [c.description for c in box.children[0].children] == ["label", "w", "S", "eta"]
    plt.close("all")
