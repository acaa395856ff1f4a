"""Distances between distributions: the course's FID and KID (MNIST-classifier features), sliced Wasserstein, Gaussian KL / W2. Used in notebooks/04 and notebooks/07.

"FID" in this course is the Frechet distance between Gaussians fitted to the 128-dimensional
penultimate features of the project's own MNIST classifier (`ddim_ref.classifier`), computed
against the features of the 10,000 MNIST test images. It is NOT the Inception-v3 FID of the
papers: its numbers are not comparable with published FIDs, only with each other.

Reference statistics are shipped in data/classifier/mnist_test_stats.pt; its JSON sidecar records
the SHA-256 of the classifier file they were computed with, and loading them fails loudly if the
classifier file has changed since (rebuild with `compute_reference_stats()`).

FID is biased upwards at finite sample size (roughly by a constant / n), so compare FIDs of
samples of the same size n only; `fid_bootstrap` gives a standard error for one sample. With n
at most the feature dimension (128) the sample covariance is singular: `scores` refuses such n.
KID (Binkowski et al. 2018) is the unbiased estimate of the squared MMD with the kernel
(x.y / d + 1)^3 in the same features: no bias at small n, so it complements FID.

Paired comparisons: `scores` draws its bootstrap resamples from a generator seeded by `seed`, so
two sample sets of the same size get the same resampled index sets. When sample k of both sets
comes from the same x_T (the course's cells share x_T), `paired_difference` takes the standard
error of a difference from the replicate-by-replicate differences: the shared x_T cancels.
"""

import contextlib
import hashlib
from pathlib import Path

import torch

from ddim_ref.checkpoint import load_checkpoint, load_meta, provenance, save_checkpoint
from ddim_ref.classifier import DEFAULT_PATH as CLASSIFIER_PATH
from ddim_ref.classifier import load_classifier
from ddim_ref.data import MissingDataError, load_mnist

STATS_PATH = CLASSIFIER_PATH.parent / "mnist_test_stats.pt"

# A symmetric matrix counts as positive semi-definite if its most negative eigenvalue is above
# -PSD_RTOL * (largest |eigenvalue|); such tiny negatives are rounding and are set to 0.
PSD_RTOL = 1e-6

# ----------------------------------------------------------------------------- Gaussians


def _gaussian(mu, cov, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a mean (d,) and covariance (d, d) and return them as float64 CPU tensors."""
    mu = torch.as_tensor(mu).detach().to("cpu", torch.float64)
    cov = torch.as_tensor(cov).detach().to("cpu", torch.float64)
    if mu.ndim != 1 or cov.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{name}: need a mean of shape (d,) and a covariance of shape (d, d); got {tuple(mu.shape)} and {tuple(cov.shape)}.")
    if not (torch.isfinite(mu).all() and torch.isfinite(cov).all()):
        raise ValueError(f"{name}: mean and covariance must be finite (found NaN or inf).")
    scale = cov.abs().max().clamp_min(1e-300)
    if (cov - cov.T).abs().max() > 1e-6 * scale:
        raise ValueError(f"{name}: covariance is not symmetric (max |C - C^T| = {(cov - cov.T).abs().max():.3g}).")
    return mu, (cov + cov.T) / 2


@contextlib.contextmanager
def _one_thread():
    """Run small dense linear algebra single-threaded, then restore torch's thread count.

    A 128 x 128 eigh takes about 2 ms on one thread; with 2 threads on 2 cores shared with other
    processes, the threaded LAPACK path was measured at about 1 s per call (threads waiting on each other).
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _psd_eigh(mat: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (clamped at 0, see PSD_RTOL) and eigenvectors of a symmetric PSD float64 matrix."""
    with _one_thread():
        w, v = torch.linalg.eigh(mat)  # (d,), (d, d)
    if w.numel() and w.min() < -PSD_RTOL * w.abs().max():
        raise ValueError(f"{name} is not positive semi-definite (smallest eigenvalue {w.min():.3g}, largest {w.max():.3g}).")
    return w.clamp_min(0.0), v


def _sqrtm_psd(cov: torch.Tensor, name: str) -> torch.Tensor:
    """Symmetric square root C^{1/2} (d, d) of a PSD matrix via its eigendecomposition."""
    w, v = _psd_eigh(cov, name)
    return (v * w.sqrt()) @ v.T


def _frechet_from_sqrt(mu1, sqrt_cov1, cov1, mu2, cov2) -> float:
    """Frechet distance given C1^{1/2} precomputed (the bootstrap reuses it)."""
    middle = sqrt_cov1 @ cov2 @ sqrt_cov1  # (d, d), C1^{1/2} C2 C1^{1/2}: symmetric PSD
    w, _ = _psd_eigh((middle + middle.T) / 2, "C1^{1/2} C2 C1^{1/2}")
    trace_sqrt = w.sqrt().sum()  # tr (C1^{1/2} C2 C1^{1/2})^{1/2}
    return float(((mu1 - mu2) ** 2).sum() + cov1.trace() + cov2.trace() - 2.0 * trace_sqrt)


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """Frechet distance ||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1^{1/2} C2 C1^{1/2})^{1/2}) in float64 (notebooks/04).

    This is the squared 2-Wasserstein distance between N(mu1, C1) and N(mu2, C2). Both square roots
    come from symmetric eigendecompositions; eigenvalues that are negative only by rounding are set
    to 0. The result can be negative by rounding (about 1e-12 relative) when the Gaussians are equal.
    """
    mu1, cov1 = _gaussian(mu1, cov1, "first Gaussian")
    mu2, cov2 = _gaussian(mu2, cov2, "second Gaussian")
    if mu1.shape != mu2.shape:
        raise ValueError(f"the two Gaussians have different dimensions: {mu1.shape[0]} and {mu2.shape[0]}.")
    return _frechet_from_sqrt(mu1, _sqrtm_psd(cov1, "first covariance"), cov1, mu2, cov2)


def gaussian_w2(mu0, cov0, mu1, cov1) -> float:
    """2-Wasserstein distance between N(mu0, C0) and N(mu1, C1): the square root of `frechet_distance` (notebooks/07)."""
    return max(frechet_distance(mu0, cov0, mu1, cov1), 0.0) ** 0.5  # exact value >= 0; negatives are rounding


def gaussian_kl(mu0, cov0, mu1, cov1) -> float:
    """KL(N(mu0, C0) || N(mu1, C1)) = (tr(C1^-1 C0) + (mu1-mu0)^T C1^-1 (mu1-mu0) - d + ln det C1 - ln det C0) / 2 (notebooks/07)."""
    mu0, cov0 = _gaussian(mu0, cov0, "first Gaussian")
    mu1, cov1 = _gaussian(mu1, cov1, "second Gaussian")
    if mu0.shape != mu1.shape:
        raise ValueError(f"the two Gaussians have different dimensions: {mu0.shape[0]} and {mu1.shape[0]}.")
    with _one_thread():
        chol0, info0 = torch.linalg.cholesky_ex(cov0)  # (d, d) lower
        chol1, info1 = torch.linalg.cholesky_ex(cov1)
    if info0 or info1:
        raise ValueError("gaussian_kl needs positive definite covariances (the KL is infinite or undefined otherwise).")
    a = torch.linalg.solve_triangular(chol1, chol0, upper=False)  # (d, d), L1^{-1} L0
    b = torch.linalg.solve_triangular(chol1, (mu1 - mu0)[:, None], upper=False)  # (d, 1), L1^{-1} (mu1 - mu0)
    logdet0 = 2.0 * chol0.diagonal().log().sum()
    logdet1 = 2.0 * chol1.diagonal().log().sum()
    return float(0.5 * ((a**2).sum() + (b**2).sum() - mu0.shape[0] + logdet1 - logdet0))


# ----------------------------------------------------------------------------- point clouds


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, n_projections: int = 128, generator: torch.Generator | None = None) -> float:
    """Sliced 2-Wasserstein distance between two equal-size point clouds (n, d), by sorting projections (notebooks/06).

    SW_2 = sqrt(mean over random unit directions u of W_2^2(u.x, u.y)), and the 1-D W_2 of two
    equal-size samples pairs their sorted values. For d = 1 every direction is +-1, so the result
    is the exact W_2 of the two 1-D empirical distributions. generator=None uses a generator seeded
    with 0, so repeated calls use the same directions (comparisons share them).
    """
    if not isinstance(n_projections, int) or n_projections < 1:
        raise ValueError(f"n_projections must be a positive int, got {n_projections!r}.")
    if not (torch.is_tensor(x) and torch.is_tensor(y)) or not (x.is_floating_point() and y.is_floating_point()):
        raise ValueError("x and y must be floating-point tensors of shape (n, d) or (n,).")
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    if x.ndim != 2 or x.shape != y.shape or x.shape[0] < 1:
        raise ValueError(
            f"x and y must have the same shape (n, d) with n >= 1 (equal sample sizes; subsample the larger), "
            f"got {tuple(x.shape)} and {tuple(y.shape)}."
        )
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    directions = torch.randn(x.shape[1], n_projections, generator=generator, dtype=torch.float64,
                             device=generator.device)  # (d, P)
    directions = (directions / directions.norm(dim=0, keepdim=True)).to(x.device)
    x_proj = torch.sort(x.to(torch.float64) @ directions, dim=0).values  # (n, P)
    y_proj = torch.sort(y.to(torch.float64) @ directions, dim=0).values  # (n, P)
    return float(((x_proj - y_proj) ** 2).mean().sqrt())


# ----------------------------------------------------------------------------- classifier features


def _check_images(images: torch.Tensor) -> None:
    if not torch.is_tensor(images) or not images.is_floating_point():
        raise ValueError("images must be a floating-point tensor (N, 1, 28, 28) with values in [-1, 1].")
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28) or images.shape[0] < 2:
        raise ValueError(f"images must have shape (N, 1, 28, 28) with N >= 2, got {tuple(images.shape)}.")
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or inf (did the sampler diverge?).")


@torch.no_grad()
def classifier_features(images: torch.Tensor, classifier: torch.nn.Module, batch_size: int = 500) -> torch.Tensor:
    """Penultimate classifier features (N, 128) float64 on the CPU, computed in eval mode on the classifier's device (notebooks/04)."""
    _check_images(images)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    param = next(classifier.parameters())
    was_training = classifier.training
    classifier.eval()
    try:
        chunks = [classifier.features(images[i : i + batch_size].to(param.device, param.dtype)).to("cpu", torch.float64)
                  for i in range(0, images.shape[0], batch_size)]  # each (b, 128)
    finally:
        classifier.train(was_training)
    return torch.cat(chunks)  # (N, 128)


def mean_cov(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample mean (d,) and unbiased covariance (d, d), float64, of features (N, d)."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need features of shape (N, d) with N >= 2, got {tuple(features.shape)}.")
    features = features.to(torch.float64)
    mu = features.mean(0)  # (d,)
    centred = features - mu  # (N, d)
    return mu, centred.T @ centred / (features.shape[0] - 1)  # (d,), (d, d)


def feature_stats(images: torch.Tensor, classifier: torch.nn.Module, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (128,) and covariance (128, 128), float64, of the classifier features of images (N, 1, 28, 28) (notebooks/04)."""
    return mean_cov(classifier_features(images, classifier, batch_size))


# ----------------------------------------------------------------------------- reference statistics


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def weights_sha256(model: torch.nn.Module) -> str:
    """SHA-256 of a model's state_dict (names, dtypes, shapes and values), independent of its device."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def compute_reference_stats(path: str | Path = STATS_PATH, classifier_path: str | Path = CLASSIFIER_PATH) -> tuple[torch.Tensor, torch.Tensor]:
    """Compute the feature mean/covariance of the 10,000 MNIST test images and save them with the classifier's SHA-256 (notebooks/04)."""
    classifier = load_classifier(classifier_path)
    test_images, _ = load_mnist("test")  # (10000, 1, 28, 28)
    mu, cov = feature_stats(test_images, classifier)
    meta = {
        "what": "mean and covariance (float64, unbiased) of the penultimate features of the MNIST test set",
        "split": "test",
        "n": test_images.shape[0],
        "classifier_file": Path(classifier_path).name,
        "classifier_sha256": file_sha256(classifier_path),
        "classifier_weights_sha256": weights_sha256(classifier),
        **provenance(),
        "rebuild_command": 'python -c "from ddim_ref.metrics import compute_reference_stats; compute_reference_stats()"',
    }
    save_checkpoint(path, {"mu": mu, "cov": cov}, meta)
    return mu, cov


def _load_reference(path: str | Path, classifier_path: str | Path) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Reference (mu, cov, sidecar) after checking that they were computed with the classifier file now at classifier_path."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"reference statistics not found at {path}; rebuild them with ddim_ref.metrics.compute_reference_stats().")
    meta = load_meta(path)
    if "classifier_sha256" not in meta:
        raise ValueError(f"{path} has no sidecar recording the classifier's SHA-256, so it cannot be checked; rebuild it with compute_reference_stats().")
    if not Path(classifier_path).is_file():
        raise MissingDataError(f"classifier not found at {classifier_path}; the reference statistics {path} need it (rebuild it with ddim_ref.classifier.train_classifier()).")
    current = file_sha256(classifier_path)
    if current != meta["classifier_sha256"]:
        raise ValueError(
            f"stale reference statistics: {path} was computed with a classifier whose SHA-256 is "
            f"{meta['classifier_sha256']}, but {classifier_path} now has SHA-256 {current}. "
            f"Rebuild them with ddim_ref.metrics.compute_reference_stats()."
        )
    state = load_checkpoint(path)
    if not isinstance(state, dict) or not {"mu", "cov"} <= set(state):
        raise ValueError(f"{path} does not hold reference statistics (expected keys 'mu' and 'cov').")
    mu, cov = _gaussian(state["mu"], state["cov"], f"reference statistics {path}")
    return mu, cov, meta


def reference_stats(path: str | Path = STATS_PATH, classifier_path: str | Path = CLASSIFIER_PATH) -> tuple[torch.Tensor, torch.Tensor]:
    """Shipped feature mean (128,) and covariance (128, 128) of the MNIST test set; ValueError if stale (notebooks/04)."""
    mu, cov, _ = _load_reference(path, classifier_path)
    return mu, cov


def _resolve(classifier, ref):
    """Default classifier and reference statistics, checking that a user-given classifier matches the default statistics."""
    if ref is None:
        mu, cov, meta = _load_reference(STATS_PATH, CLASSIFIER_PATH)
        if classifier is not None and weights_sha256(classifier) != meta.get("classifier_weights_sha256"):
            raise ValueError(
                "the given classifier is not the one the shipped reference statistics were computed with; "
                "pass ref=feature_stats(test_images, classifier) as well, or leave classifier=None."
            )
        ref = (mu, cov)
    classifier = classifier if classifier is not None else load_classifier()
    return classifier, _gaussian(*ref, "reference statistics")


def fid(images: torch.Tensor, classifier: torch.nn.Module | None = None, ref=None, batch_size: int = 500) -> float:
    """Course FID: Frechet distance between the MNIST-classifier features of images (N, 1, 28, 28) in [-1, 1] and the MNIST test set (notebooks/04, notebooks/07).

    Not the Inception FID of the papers: the features are the project classifier's penultimate layer
    (see the module docstring). classifier=None loads the shipped classifier; ref=None the shipped
    test-set statistics (mu, cov). Biased upwards at small N: compare only at equal N.
    """
    classifier, (mu_ref, cov_ref) = _resolve(classifier, ref)
    mu, cov = feature_stats(images, classifier, batch_size)
    return frechet_distance(mu_ref, cov_ref, mu, cov)


def fid_bootstrap(
    images: torch.Tensor, classifier: torch.nn.Module | None = None, ref=None, n_boot: int = 200, seed: int = 0,
    batch_size: int = 500,
) -> tuple[float, float]:
    """Course FID of images and its bootstrap standard error over resamplings of the images (notebooks/04).

    The reference statistics are held fixed, so the standard error covers the sampling noise of
    `images` only. For the difference of the FIDs of two independent samples use sqrt(se1^2 + se2^2).
    """
    if not isinstance(n_boot, int) or n_boot < 2:
        raise ValueError(f"n_boot must be an int >= 2, got {n_boot!r}.")
    classifier, (mu_ref, cov_ref) = _resolve(classifier, ref)
    features = classifier_features(images, classifier, batch_size)  # (N, 128)
    sqrt_ref = _sqrtm_psd(cov_ref, "reference covariance")
    value = _frechet_from_sqrt(mu_ref, sqrt_ref, cov_ref, *mean_cov(features))
    generator = torch.Generator().manual_seed(seed)
    boots = torch.tensor([
        _frechet_from_sqrt(mu_ref, sqrt_ref, cov_ref, *mean_cov(features[torch.randint(features.shape[0], (features.shape[0],), generator=generator)]))
        for _ in range(n_boot)
    ])  # (n_boot,)
    return value, float(boots.std())


# ----------------------------------------------------------------------------- KID and paired statistics

FEATURE_DIM = 128  # the classifier's penultimate layer
CONFIDENCE_THRESHOLD = 0.9  # "confident": the classifier's largest class probability exceeds this


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """KID's kernel k(x, y) = (x.y / d + 1)^3 between feature rows x (n, d) and y (m, d) -> (n, m), float64."""
    return (x.double() @ y.double().T / x.shape[1] + 1.0) ** 3


def _ref_kernel_mean(ref_features: torch.Tensor, chunk: int = 1000) -> float:
    """mean over a != b of k(y_a, y_b) for the reference features (m, d), in chunks (m x m never held at once)."""
    m = ref_features.shape[0]
    total = sum(float(polynomial_kernel(ref_features[i:i + chunk], ref_features).sum()) for i in range(0, m, chunk))
    diag = float(((ref_features.double() ** 2).sum(1) / ref_features.shape[1] + 1.0).pow(3).sum())
    return (total - diag) / (m * (m - 1))


def kid(features: torch.Tensor, ref_features: torch.Tensor) -> float:
    """Unbiased KID = MMD^2_u: mean_{i!=j} k(x_i, x_j) + mean_{a!=b} k(y_a, y_b) - 2 mean_{i,a} k(x_i, y_a) (Binkowski et al. 2018). notebooks/07."""
    n = features.shape[0]
    if n < 2 or features.ndim != 2 or ref_features.ndim != 2 or features.shape[1] != ref_features.shape[1]:
        raise ValueError(f"need features (n, d) with n >= 2 and reference features (m, d); got {tuple(features.shape)} and {tuple(ref_features.shape)}.")
    k_xx = polynomial_kernel(features, features)  # (n, n)
    xx = (float(k_xx.sum()) - float(k_xx.diagonal().sum())) / (n * (n - 1))
    xy = float(polynomial_kernel(features, ref_features).mean())
    return xx + _ref_kernel_mean(ref_features) - 2 * xy


_REFERENCE = {}  # (classifier weights hash, label) -> (test-set features (m, 128), their kernel mean over a != b)


def _reference(classifier, label=None) -> tuple[torch.Tensor, float]:
    """The MNIST test set's features (all 10,000, or the images of one class) and their KID kernel mean."""
    key = (weights_sha256(classifier), label)
    if key not in _REFERENCE:
        if (weights_sha256(classifier), None) not in _REFERENCE:
            features = classifier_features(load_mnist("test")[0], classifier)
            _REFERENCE[weights_sha256(classifier), None] = (features, _ref_kernel_mean(features))
        if label is not None:
            features = _REFERENCE[weights_sha256(classifier), None][0][load_mnist("test")[1] == label]  # (~1000, 128)
            _REFERENCE[key] = (features, _ref_kernel_mean(features))
    return _REFERENCE[key]


def reference_features(classifier=None) -> torch.Tensor:
    """Classifier features (10000, 128) of the MNIST test set (KID's reference), computed once per classifier. notebooks/07."""
    classifier, _ = _resolve(classifier, None)
    return _reference(classifier)[0]


def scores(images: torch.Tensor, n_boot: int = 200, seed: int = 0, batch_size: int = 500, label: int | None = None) -> dict:
    """Course FID and KID of images (N, 1, 28, 28) with N > 128, each with bootstrap SE and replicates. notebooks/07.

    label: compare with the MNIST test images of that class only (per-class FID/KID of class-conditional
    samples, notebooks/09) instead of the whole test set.
    Returns {"fid", "fid_se", "fid_boot", "kid", "kid_se", "kid_boot", "confident", "classes", "spread"}: "confident"
    is the fraction of images the classifier assigns to one class with probability above 0.9, "classes" the
    number of images per predicted class (10 counts: class accuracy of guided samples), "spread" the trace of
    the features' covariance over the reference's (diversity: 1 = as spread out as real data). The *_boot lists hold the n_boot
    replicates computed on resampled index sets drawn from torch.Generator().manual_seed(seed), the same
    for every call with the same N (see `paired_difference`). A resample repeats some images; the KID
    replicates count a repeated image's pair with itself as two different images, which shifts them up by
    O(1/N) but hardly changes their spread, which is all the SE uses (tested against the U-statistic SE).
    """
    n = images.shape[0] if torch.is_tensor(images) and images.ndim == 4 else 0
    if n <= FEATURE_DIM:
        raise ValueError(f"FID needs more samples than the {FEATURE_DIM} feature dimensions (its covariance is singular "
                         f"otherwise), got N = {n}; the course compares cells at N >= 500.")
    if not isinstance(n_boot, int) or n_boot < 2:
        raise ValueError(f"n_boot must be an int >= 2, got {n_boot!r}.")
    if label is not None and (isinstance(label, bool) or not isinstance(label, int) or not 0 <= label <= 9):
        raise ValueError(f"label must be None (the whole test set) or an MNIST class 0..9, got {label!r}.")
    classifier, (mu_ref, cov_ref) = _resolve(None, None)
    features = classifier_features(images, classifier, batch_size)  # (N, 128)
    ref, yy = _reference(classifier, label)  # (m, 128) test-set features, mean_{a != b} k(y_a, y_b)
    if label is not None:
        mu_ref, cov_ref = mean_cov(ref)
    sqrt_ref = _sqrtm_psd(cov_ref, "reference covariance")
    k_xx = polynomial_kernel(features, features)  # (N, N)
    xy = polynomial_kernel(features, ref).mean(1)  # (N,) mean_a k(x_i, y_a)

    def fid_and_kid(idx):
        f = _frechet_from_sqrt(mu_ref, sqrt_ref, cov_ref, *mean_cov(features[idx]))
        k = k_xx[idx][:, idx]
        xx = (float(k.sum()) - float(k.diagonal().sum())) / (len(idx) * (len(idx) - 1))
        return f, xx + yy - 2 * float(xy[idx].mean())

    fid_value, kid_value = fid_and_kid(torch.arange(n))
    head = classifier.head
    with torch.no_grad():
        probs = torch.softmax(head(features.to(head.weight.device, head.weight.dtype)), dim=1).cpu()  # (N, 10)
    confident = float((probs.max(1).values > CONFIDENCE_THRESHOLD).double().mean())
    spread = float(mean_cov(features)[1].trace() / cov_ref.trace())  # diversity: 1 = as spread out as the reference
    classes = torch.bincount(probs.argmax(1), minlength=probs.shape[1]).tolist()
    generator = torch.Generator().manual_seed(seed)
    boots = torch.tensor([fid_and_kid(torch.randint(n, (n,), generator=generator)) for _ in range(n_boot)])  # (n_boot, 2)
    return {"fid": fid_value, "fid_se": float(boots[:, 0].std()), "fid_boot": boots[:, 0].tolist(),
            "kid": kid_value, "kid_se": float(boots[:, 1].std()), "kid_boot": boots[:, 1].tolist(),
            "confident": confident, "classes": classes, "spread": spread}


def paired_difference(a: dict, b: dict, value: str = "fid") -> tuple[float, float]:
    """(a - b, paired bootstrap SE) of two score records whose samples share x_T and whose replicates share index sets. notebooks/07."""
    ra, rb = a.get(value + "_boot"), b.get(value + "_boot")
    if not ra or not rb or len(ra) != len(rb):
        raise ValueError(f"both records need {value}_boot replicates of the same length (from metrics.scores with the same "
                         f"n_boot and seed); got {len(ra or [])} and {len(rb or [])}.")
    if a.get("n") != b.get("n") or a.get("seed") != b.get("seed"):
        raise ValueError(f"a paired comparison needs the same n and seed (the same x_T and resampled indices); got "
                         f"n = {a.get('n')}, {b.get('n')} and seed = {a.get('seed')}, {b.get('seed')}.")
    diffs = torch.tensor(ra, dtype=torch.float64) - torch.tensor(rb, dtype=torch.float64)
    return a[value] - b[value], float(diffs.std())
