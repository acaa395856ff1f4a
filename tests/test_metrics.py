"""Tests of ddim_ref.metrics: closed forms of the Gaussian distances, sliced Wasserstein, and the course FID."""

import math
import shutil

import numpy as np
import pytest
import torch

from ddim_ref import metrics
from ddim_ref.checkpoint import load_checkpoint, save_checkpoint, sidecar_path
from ddim_ref.classifier import DEFAULT_PATH, HELD_OUT, load_classifier
from ddim_ref.data import load_mnist


def random_cov(d, seed, jitter=0.1):
    """A random symmetric positive definite (d, d) float64 matrix."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T / d + jitter * torch.eye(d, dtype=torch.float64)


def random_mean(d, seed):
    return torch.randn(d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ----------------------------------------------------------------------------- Frechet distance


def test_frechet_zero_for_identical_stats():
    mu, cov = random_mean(6, 0), random_cov(6, 1)
    assert abs(metrics.frechet_distance(mu, cov, mu, cov)) < 1e-10


def test_frechet_diagonal_closed_form():
    # Commuting (diagonal) covariances: sum (sqrt(a) - sqrt(b))^2 + ||mu1 - mu2||^2.
    a = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64)
    b = torch.tensor([3.0, 1.0, 0.25, 9.0], dtype=torch.float64)
    mu1, mu2 = random_mean(4, 2), random_mean(4, 3)
    expected = ((a.sqrt() - b.sqrt()) ** 2).sum() + ((mu1 - mu2) ** 2).sum()
    got = metrics.frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b))
    assert got == pytest.approx(float(expected), rel=1e-12)


def test_frechet_full_covariance_closed_form():
    # N(0, I) vs N(m, R^2) with R symmetric PSD and not diagonal: ||m||^2 + ||I - R||_F^2.
    q, _ = torch.linalg.qr(torch.randn(5, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64))
    r = q @ torch.diag(torch.tensor([0.1, 0.5, 1.0, 2.0, 3.0], dtype=torch.float64)) @ q.T
    m = random_mean(5, 5)
    expected = (m**2).sum() + ((torch.eye(5, dtype=torch.float64) - r) ** 2).sum()
    got = metrics.frechet_distance(torch.zeros(5), torch.eye(5), m, r @ r)
    assert got == pytest.approx(float(expected), rel=1e-10)


def test_frechet_symmetric_and_matches_eigenvalue_formula_and_w2():
    mu1, cov1, mu2, cov2 = random_mean(8, 6), random_cov(8, 7), random_mean(8, 8), random_cov(8, 9)
    d12 = metrics.frechet_distance(mu1, cov1, mu2, cov2)
    d21 = metrics.frechet_distance(mu2, cov2, mu1, cov1)
    assert d12 == pytest.approx(d21, rel=1e-10)
    # Independent route: tr (C1^{1/2} C2 C1^{1/2})^{1/2} = sum of sqrt of the eigenvalues of C1 C2 (similar matrices).
    eig = np.linalg.eigvals(cov1.numpy() @ cov2.numpy())
    expected = float(((mu1 - mu2) ** 2).sum() + cov1.trace() + cov2.trace()) - 2 * np.sqrt(eig.real).sum()
    assert d12 == pytest.approx(expected, rel=1e-9)
    assert metrics.gaussian_w2(mu1, cov1, mu2, cov2) ** 2 == pytest.approx(d12, rel=1e-12)


def test_gaussian_w2_one_dimensional():
    # W2(N(m0, s0^2), N(m1, s1^2)) = sqrt((m0 - m1)^2 + (s0 - s1)^2).
    got = metrics.gaussian_w2(torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([-2.0]), torch.tensor([[0.25]]))
    assert got == pytest.approx(math.sqrt(3.0**2 + 1.5**2), rel=1e-12)


@pytest.mark.parametrize(
    "mu2, cov2, match",
    [
        (torch.zeros(3), torch.eye(3), "different dimensions"),
        (torch.zeros(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]]), "not symmetric"),
        (torch.zeros(2), torch.tensor([[1.0, 0.0], [0.0, -1.0]]), "positive semi-definite"),
        (torch.zeros(2), torch.ones(3, 3), "shape"),
        (torch.zeros(2), torch.tensor([[float("nan"), 0.0], [0.0, 1.0]]), "finite"),
    ],
)
def test_frechet_rejects_bad_input(mu2, cov2, match):
    with pytest.raises(ValueError, match=match):
        metrics.frechet_distance(mu2, cov2, torch.zeros(2), torch.eye(2))


# ----------------------------------------------------------------------------- Gaussian KL


def test_gaussian_kl_zero_for_equal_and_one_dimensional_formula():
    mu, cov = random_mean(5, 10), random_cov(5, 11)
    assert abs(metrics.gaussian_kl(mu, cov, mu, cov)) < 1e-12
    m0, s0, m1, s1 = 0.3, 0.7, -1.1, 1.9
    expected = math.log(s1 / s0) + (s0**2 + (m0 - m1) ** 2) / (2 * s1**2) - 0.5
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    got = metrics.gaussian_kl(t([m0]), t([[s0**2]]), t([m1]), t([[s1**2]]))
    assert got == pytest.approx(expected, rel=1e-12)


def test_gaussian_kl_full_covariance_matches_torch_distributions():
    mu0, cov0, mu1, cov1 = random_mean(4, 12), random_cov(4, 13), random_mean(4, 14), random_cov(4, 15)
    p = torch.distributions.MultivariateNormal(mu0, covariance_matrix=cov0)
    q = torch.distributions.MultivariateNormal(mu1, covariance_matrix=cov1)
    assert metrics.gaussian_kl(mu0, cov0, mu1, cov1) == pytest.approx(float(torch.distributions.kl_divergence(p, q)), rel=1e-10)
    assert metrics.gaussian_kl(mu0, cov0, mu1, cov1) != pytest.approx(metrics.gaussian_kl(mu1, cov1, mu0, cov0), rel=1e-3)


def test_gaussian_kl_rejects_singular_covariance():
    with pytest.raises(ValueError, match="positive definite"):
        metrics.gaussian_kl(torch.zeros(2), torch.eye(2), torch.zeros(2), torch.diag(torch.tensor([1.0, 0.0])))


# ----------------------------------------------------------------------------- sliced Wasserstein


def test_sliced_wasserstein_same_sample_zero_and_monotone_in_shift():
    x = torch.randn(2000, 2, generator=torch.Generator().manual_seed(20))
    assert metrics.sliced_wasserstein(x, x) == 0.0
    direction = torch.tensor([0.6, 0.8])
    values = [metrics.sliced_wasserstein(x, x + s * direction) for s in (0.1, 0.5, 1.0, 2.0, 4.0)]
    assert all(a < b for a, b in zip(values, values[1:]))
    # A shift v moves every projection u.x by u.v, so SW^2 = mean over u of (u.v)^2 -> |v|^2 / 2 in 2-D
    # (with 2000 directions the relative SD of SW is 0.8 %; a W1 instead of W2 would give 2|v|/pi, 10 % lower).
    shifted = metrics.sliced_wasserstein(x, x + 4.0 * direction, n_projections=2000)
    assert shifted == pytest.approx(4.0 / math.sqrt(2.0), rel=0.03)


def test_sliced_wasserstein_one_dimensional_is_the_shift():
    x = torch.randn(5000, generator=torch.Generator().manual_seed(21), dtype=torch.float64)
    assert metrics.sliced_wasserstein(x, x + 0.7) == pytest.approx(0.7, rel=1e-9)
    # Scaling keeps the sorted pairing: W2(x, 2x) = sqrt(mean x^2) exactly (W1 would be mean |x|).
    assert metrics.sliced_wasserstein(x, 2 * x) == pytest.approx(float(x.pow(2).mean().sqrt()), rel=1e-9)
    # Two independent samples of N(0, 1) and N(0.7, 1): W2 = 0.7 up to sampling noise of order n^-1/2.
    y = torch.randn(5000, generator=torch.Generator().manual_seed(22)) + 0.7
    assert metrics.sliced_wasserstein(x, y) == pytest.approx(0.7, abs=0.05)


def test_sliced_wasserstein_deterministic_and_rejects_bad_input():
    x = torch.randn(100, 3, generator=torch.Generator().manual_seed(23))
    y = torch.randn(100, 3, generator=torch.Generator().manual_seed(24))
    assert metrics.sliced_wasserstein(x, y) == metrics.sliced_wasserstein(x, y)
    with pytest.raises(ValueError, match="same shape"):
        metrics.sliced_wasserstein(x, y[:50])
    with pytest.raises(ValueError, match="n_projections"):
        metrics.sliced_wasserstein(x, y, n_projections=0)


def test_mean_cov_matches_numpy():
    features = torch.randn(300, 7, generator=torch.Generator().manual_seed(25), dtype=torch.float64) * 3 + 1
    mu, cov = metrics.mean_cov(features)
    assert np.allclose(mu.numpy(), features.numpy().mean(0), rtol=1e-12, atol=1e-12)
    assert np.allclose(cov.numpy(), np.cov(features.numpy(), rowvar=False), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="N >= 2"):
        metrics.mean_cov(features[:1])


# ----------------------------------------------------------------------------- the course FID (shipped classifier and statistics)


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()


@pytest.fixture(scope="module")
def held_out():
    images, _ = load_mnist("train")
    idx = torch.randperm(5000, generator=torch.Generator().manual_seed(0))[:2000]
    return images[HELD_OUT][idx]  # (2000, 1, 28, 28), a random 2000 of the 5000 the classifier never saw


# Measured with the shipped classifier, n = 2000 each: these held-out digits 3.97 (bootstrap SE 0.7;
# other random held-out subsets of 2000 give 2-5), N(0, 1) noise 6118, blank (all -1) images 1100.
# Real data is not at 0 because of the finite-sample bias of FID at n = 2000. The threshold 10 leaves
# a margin of 2.5x (about 9 SE) for a retrained classifier or another BLAS; noise and blank are
# more than 250x the held-out value.
HELD_OUT_FID_MAX = 10.0


def test_fid_separates_real_from_noise_and_blank(classifier, held_out):
    ref = metrics.reference_stats()
    real = metrics.fid(held_out, classifier, ref)
    noise = metrics.fid(torch.randn(2000, 1, 28, 28, generator=torch.Generator().manual_seed(30)), classifier, ref)
    blank = metrics.fid(torch.full((2000, 1, 28, 28), -1.0), classifier, ref)
    assert 0 < real < HELD_OUT_FID_MAX
    assert noise > 50 * real and blank > 50 * real


def test_fid_defaults_and_bootstrap_standard_error(classifier):
    # Noisy held-out digits: far enough from the reference that FID is dominated by its linear term, the
    # regime of generated samples, where the bootstrap SE is accurate (measured over 40 samples of 500:
    # SE 10.0 vs spread 10.1). For real-vs-real FIDs near 0 it is about 1.5-2x too large.
    images, _ = load_mnist("train")
    noise = 0.3 * torch.randn(5000, 1, 28, 28, generator=torch.Generator().manual_seed(31))
    noisy = (images[HELD_OUT] + noise).clamp(-1, 1)  # (5000, 1, 28, 28)
    value = metrics.fid(noisy[:500])  # default classifier and shipped statistics
    assert value == pytest.approx(metrics.fid(noisy[:500], classifier), rel=1e-9)
    boot_value, se = metrics.fid_bootstrap(noisy[:500], classifier, n_boot=50, seed=0)
    assert boot_value == pytest.approx(value, rel=1e-6)
    # The SE should match the spread of the FID over 10 disjoint samples of 500 (9 degrees of freedom).
    spread = torch.tensor([metrics.fid(noisy[i : i + 500], classifier) for i in range(0, 5000, 500)]).std()
    assert 0.4 * spread < se < 2.5 * spread
    with pytest.raises(ValueError, match="n_boot"):
        metrics.fid_bootstrap(noisy[:500], classifier, n_boot=1)


def test_shipped_stats_match_classifier_and_stale_stats_are_detected(classifier, tmp_path):
    mu, cov = metrics.reference_stats()  # hash check against the shipped classifier passes
    assert mu.shape == (128,) and cov.shape == (128, 128) and mu.dtype == cov.dtype == torch.float64
    # The statistics are those of the test-set features under this classifier (spot check on 500 images).
    test_images, _ = load_mnist("test")
    mu_500, _ = metrics.feature_stats(test_images[:500], classifier)
    assert (mu_500 - mu).norm() < 0.25 * mu.norm()
    # A modified classifier file makes the statistics stale.
    state = load_checkpoint(DEFAULT_PATH)
    state["head.bias"] = state["head.bias"] + 1e-3
    modified = tmp_path / "mnist_classifier.pt"
    save_checkpoint(modified, state)
    shutil.copy(sidecar_path(DEFAULT_PATH), sidecar_path(modified))
    with pytest.raises(ValueError, match="stale"):
        metrics.reference_stats(classifier_path=modified)
    # A classifier object with other weights is refused against the shipped statistics.
    other = load_classifier(modified)
    with pytest.raises(ValueError, match="not the one"):
        metrics.fid(torch.zeros(10, 1, 28, 28), classifier=other)


def test_fid_rejects_bad_images(classifier):
    ref = metrics.reference_stats()
    with pytest.raises(ValueError, match="shape"):
        metrics.fid(torch.zeros(10, 28, 28), classifier, ref)
    with pytest.raises(ValueError, match="NaN"):
        metrics.fid(torch.full((10, 1, 28, 28), float("nan")), classifier, ref)
    with pytest.raises(ValueError, match="floating"):
        metrics.fid(torch.zeros(10, 1, 28, 28, dtype=torch.uint8), classifier, ref)


# ----------------------------------------------------------------------------- KID and paired statistics


def test_kid_is_unbiased_and_positive_for_a_shift():
    """E[KID] = 0 when samples and reference share a distribution (unbiased U-statistic); > 0 for a shift."""
    g = torch.Generator().manual_seed(40)
    ref = torch.randn(2000, 8, generator=g, dtype=torch.float64)
    same = torch.tensor([metrics.kid(torch.randn(50, 8, generator=g, dtype=torch.float64), ref) for _ in range(200)])
    assert abs(float(same.mean())) < 3 * float(same.std()) / 200**0.5, (float(same.mean()), float(same.std()))
    shifted = torch.tensor([metrics.kid(0.5 + torch.randn(50, 8, generator=g, dtype=torch.float64), ref) for _ in range(50)])
    assert float(shifted.mean()) > 10 * float(shifted.std()) / 50**0.5
    x = torch.randn(5, 3, generator=g, dtype=torch.float64)
    y = torch.randn(7, 3, generator=g, dtype=torch.float64)
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    brute = (sum(k(x[i], x[j]) for i in range(5) for j in range(5) if i != j) / 20
             + sum(k(y[i], y[j]) for i in range(7) for j in range(7) if i != j) / 42
             - 2 * sum(k(x[i], y[j]) for i in range(5) for j in range(7)) / 35)
    assert metrics.kid(x, y) == pytest.approx(float(brute), rel=1e-12)


def test_scores_bootstrap_se_paired_difference_and_small_n(classifier):
    images, _ = load_mnist("train")
    noise = 0.3 * torch.randn(3000, 1, 28, 28, generator=torch.Generator().manual_seed(41))
    noisy = (images[HELD_OUT][:3000] + noise).clamp(-1, 1)  # (3000, 1, 28, 28)
    a = metrics.scores(noisy[:500], n_boot=100)
    assert a["fid"] == pytest.approx(metrics.fid(noisy[:500]), rel=1e-9)
    with torch.no_grad():
        probs = torch.softmax(classifier(noisy[:500]), dim=1)
    assert a["confident"] == pytest.approx(float((probs.max(1).values > 0.9).double().mean()))
    assert a["classes"] == torch.bincount(probs.argmax(1), minlength=10).tolist() and sum(a["classes"]) == 500
    assert a["kid"] == pytest.approx(metrics.kid(metrics.classifier_features(noisy[:500], classifier),
                                                 metrics.reference_features()), rel=1e-9)
    # the KID's bootstrap SE matches its spread over 6 disjoint samples of 500 (5 degrees of freedom)
    spread = torch.tensor([metrics.scores(noisy[i:i + 500], n_boot=2)["kid"] for i in range(0, 3000, 500)]).std()
    assert 0.35 * spread < a["kid_se"] < 2.8 * spread, (a["kid_se"], float(spread))
    # the same images a little perturbed: sample k of b pairs with sample k of a (as when cells share x_T)
    b = metrics.scores((noisy[:500] + 0.05 * torch.randn(500, 1, 28, 28, generator=torch.Generator().manual_seed(42))).clamp(-1, 1),
                       n_boot=100)
    for value in ("fid", "kid"):
        diff, se = metrics.paired_difference(b, a, value)
        unpaired = (a[value + "_se"] ** 2 + b[value + "_se"] ** 2) ** 0.5
        assert diff == pytest.approx(b[value] - a[value]) and 0 < se < unpaired / 3, (value, se, unpaired)
    with pytest.raises(ValueError, match="128 feature dimensions"):
        metrics.scores(noisy[:128])
    with pytest.raises(ValueError, match="replicates of the same length"):
        metrics.paired_difference(a, {"fid": 1.0, "fid_boot": [1.0, 2.0]})


def test_per_class_scores_use_that_class_as_reference():
    """Real test-set 3s score far better against the 3s than against the 8s; the whole set sits in between."""
    images, labels = load_mnist("train")
    held, held_labels = images[HELD_OUT], labels[HELD_OUT]
    threes = held[held_labels == 3][:300]
    own, other = metrics.scores(threes, n_boot=2, label=3), metrics.scores(threes, n_boot=2, label=8)
    assert own["fid"] < other["fid"] / 5 and own["kid"] < other["kid"] / 5
    assert own["classes"][3] > 0.9 * 300
    with pytest.raises(ValueError, match="label must be"):
        metrics.scores(threes, label=10)
