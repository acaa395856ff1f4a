"""Data whose optimal noise predictor eps* is known in closed form: Gaussian, Gaussian mixture, finite set.

Introduced in notebooks/03. For x_0 ~ p_data and a = alpha_bar[t] (the paper's alpha_t), the marginal
q_t(x_t) of eq. (4) is p_data scaled by sqrt(a) and convolved with N(0, (1 - a) I). The minimiser of
L_gamma (eq. 5) at every t is the posterior mean of the noise (Tweedie's formula):

    eps*(x_t, t) = E[eps | x_t] = (x_t - sqrt(a) E[x_0 | x_t]) / sqrt(1 - a) = -sqrt(1 - a) grad log q_t(x_t).

Each class holds the `alpha_bar` table, so its bound method `eps_model(x_t, t)` (t: LongTensor (B,) in
1..T) can be passed to `samplers.sample` in place of a trained network. Everything is computed in
float64; results take the dtype and device of the input x.
"""

import math

import torch

from .schedules import check_alpha_bar


class Gaussian:
    """p_data = N(mean, cov) in R^D with the exact eps* of its diffused marginals. notebooks/03."""

    def __init__(self, mean, cov, alpha_bar):
        self.mean = _float64(mean, "mean")  # (D,)
        if self.mean.ndim != 1 or self.mean.numel() < 1:
            raise ValueError(f"mean must have shape (D,), got {tuple(self.mean.shape)}")
        self.cov = _spd(cov, self.dim, "cov")  # (D, D)
        self.alpha_bar = _check_alpha_bar(alpha_bar)  # (T+1,)
        self._lam, self._U = torch.linalg.eigh(self.cov)  # (D,), (D, D): Sigma = U diag(lam) U^T

    @property
    def dim(self):
        return self.mean.shape[0]

    @property
    def T(self):
        return self.alpha_bar.numel() - 1

    def __repr__(self):
        return f"Gaussian(D={self.dim}, T={self.T})"

    def marginal(self, t):
        """Mean sqrt(a) m (D,) and covariance a Sigma + (1 - a) I (D, D) of q_t, a = alpha_bar[t], eq. (4). notebooks/03."""
        a = float(self.alpha_bar[_check_t_int(t, self.T)])
        eye = torch.eye(self.dim, dtype=torch.float64, device=self.mean.device)
        return a**0.5 * self.mean, a * self.cov + (1 - a) * eye

    def eps_model(self, x_t, t):
        """eps*(x_t, t) = sqrt(1 - a) cov_t^{-1} (x_t - sqrt(a) m); x_t (B, D), t (B,) in 1..T. notebooks/03."""
        x, a = self._inputs(x_t, t, allow_zero=False)
        y, var = self._eigen_coords(x, a)  # (B, D), (B, D)
        solved = (y / var) @ self._U.to(x.device).T  # (B, D) cov_t^{-1} (x - mean_t)
        return ((1 - a).sqrt()[:, None] * solved).to(x_t.dtype)

    def log_prob(self, x, t=0):
        """log q_t(x) = log N(x; sqrt(a) m, a Sigma + (1 - a) I) per sample (B,); t = 0 is p_data. notebooks/03."""
        x64, a = self._inputs(x, t, allow_zero=True)
        y, var = self._eigen_coords(x64, a)
        return (-0.5 * (self.dim * math.log(2 * math.pi) + var.log().sum(1) + (y**2 / var).sum(1))).to(x.dtype)

    def sample(self, n, generator=None, dtype=torch.float64):
        """n independent draws x_0 ~ N(mean, cov), shape (n, D). notebooks/03."""
        n = _check_n(n)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64, device=self.mean.device)
        return (self.mean + (z * self._lam.sqrt()) @ self._U.T).to(dtype)

    def _inputs(self, x, t, allow_zero):
        """x as float64 (B, D) and a = alpha_bar[t] (B,), after checking shapes and t."""
        x = _check_x(x, (self.dim,))
        t = _check_t(t, x.shape[0], self.T, x.device, allow_zero)
        return x.to(torch.float64), self.alpha_bar.to(x.device)[t]

    def _eigen_coords(self, x, a):
        """Coordinates y = U^T (x - sqrt(a) m) (B, D) in the eigenbasis of Sigma and the eigenvalues a lam + 1 - a (B, D) of cov_t.

        Sigma and cov_t share eigenvectors, so cov_t^{-1} is diagonal there: no matrix factorisation per call
        (tiny LAPACK calls are slow under multi-threading), and each sample can have its own t.
        """
        a = a[:, None]  # (B, 1)
        y = (x - a.sqrt() * self.mean.to(x.device)) @ self._U.to(x.device)  # (B, D)
        return y, a * self._lam.to(x.device) + (1 - a)


class GaussianMixture:
    """p_data = sum_k w_k N(m_k, Sigma_k) in R^D with the exact eps* of its diffused marginals. notebooks/03."""

    def __init__(self, weights, means, covs, alpha_bar):
        self.weights = _float64(weights, "weights")  # (K,)
        self.means = _float64(means, "means")  # (K, D)
        if self.weights.ndim != 1 or self.weights.numel() < 1:
            raise ValueError(f"weights must have shape (K,), got {tuple(self.weights.shape)}")
        if not bool((self.weights > 0).all()) or not math.isclose(float(self.weights.sum()), 1.0, abs_tol=1e-9):
            raise ValueError(f"weights must be positive and sum to 1, got {self.weights.tolist()} (sum {float(self.weights.sum())})")
        K = self.weights.numel()
        if self.means.ndim != 2 or self.means.shape[0] != K:
            raise ValueError(f"means must have shape (K, D) = ({K}, D), got {tuple(self.means.shape)}")
        covs = _float64(covs, "covs")
        if covs.ndim != 3 or covs.shape[0] != K:
            raise ValueError(f"covs must have shape (K, D, D) = ({K}, {self.dim}, {self.dim}), got {tuple(covs.shape)}")
        self.covs = torch.stack([_spd(c, self.dim, f"covs[{k}]") for k, c in enumerate(covs)])  # (K, D, D)
        self.alpha_bar = _check_alpha_bar(alpha_bar)  # (T+1,)
        self._lam, self._U = torch.linalg.eigh(self.covs)  # (K, D), (K, D, D): Sigma_k = U_k diag(lam_k) U_k^T

    @property
    def dim(self):
        return self.means.shape[1]

    @property
    def T(self):
        return self.alpha_bar.numel() - 1

    def __repr__(self):
        return f"GaussianMixture(K={self.weights.numel()}, D={self.dim}, T={self.T})"

    def marginal(self, t):
        """Weights (K,), means sqrt(a) m_k (K, D) and covariances a Sigma_k + (1 - a) I (K, D, D) of q_t, eq. (4). notebooks/03."""
        a = float(self.alpha_bar[_check_t_int(t, self.T)])
        eye = torch.eye(self.dim, dtype=torch.float64, device=self.means.device)
        return self.weights, a**0.5 * self.means, a * self.covs + (1 - a) * eye

    def eps_model(self, x_t, t):
        """eps*(x_t, t) = sqrt(1 - a) sum_k r_k(x_t) cov_tk^{-1} (x_t - sqrt(a) m_k); x_t (B, D), t (B,) in 1..T. notebooks/03."""
        x, t = self._inputs(x_t, t, allow_zero=False)
        a = self.alpha_bar.to(x.device)[t]  # (B,)
        log_joint, solved = self._components(x, a)  # (B, K), (B, K, D)
        r = torch.softmax(log_joint, dim=1)  # (B, K) responsibilities
        return ((1 - a).sqrt()[:, None] * (r[:, :, None] * solved).sum(1)).to(x_t.dtype)

    def log_prob(self, x, t=0):
        """log q_t(x) = logsumexp_k (log w_k + log N(x; sqrt(a) m_k, a Sigma_k + (1 - a) I)) per sample (B,). notebooks/03."""
        x64, t = self._inputs(x, t, allow_zero=True)
        log_joint, _ = self._components(x64, self.alpha_bar.to(x64.device)[t])
        return torch.logsumexp(log_joint, dim=1).to(x.dtype)

    def responsibilities(self, x, t=0):
        """Posterior component probabilities p(k | x_t) (B, K) under q_t; argmax classifies samples to modes. notebooks/03."""
        x64, t = self._inputs(x, t, allow_zero=True)
        log_joint, _ = self._components(x64, self.alpha_bar.to(x64.device)[t])
        return torch.softmax(log_joint, dim=1).to(x.dtype)

    def sample_with_labels(self, n, generator=None, dtype=torch.float64):
        """n draws x_0 ~ p_data (n, D) and their component labels (n,) LongTensor. notebooks/03."""
        n = _check_n(n)
        device = self.means.device
        labels = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64, device=device)  # (n, D)
        scaled = z * self._lam[labels].sqrt()  # (n, D) in each component's eigenbasis
        x = self.means[labels] + torch.einsum("ned,nd->ne", self._U[labels], scaled)
        return x.to(dtype), labels

    def sample(self, n, generator=None, dtype=torch.float64):
        """n independent draws x_0 ~ p_data, shape (n, D). notebooks/03."""
        return self.sample_with_labels(n, generator, dtype)[0]

    def _inputs(self, x, t, allow_zero):
        x = _check_x(x, (self.dim,))
        return x.to(torch.float64), _check_t(t, x.shape[0], self.T, x.device, allow_zero)

    def _components(self, x, a):
        """log(w_k N_k(x)) (B, K) under q_t and cov_tk^{-1} (x - sqrt(a) m_k) (B, K, D), via the eigenbasis of Sigma_k."""
        dev = x.device
        lam, U, means = self._lam.to(dev), self._U.to(dev), self.means.to(dev)
        a = a[:, None, None]  # (B, 1, 1)
        diff = x[:, None, :] - a.sqrt() * means[None]  # (B, K, D)
        y = torch.einsum("bkd,kde->bke", diff, U)  # (B, K, D) coordinates in the eigenbasis
        var = a * lam[None] + (1 - a)  # (B, K, D) eigenvalues of cov_tk
        log_normal = -0.5 * (self.dim * math.log(2 * math.pi) + var.log().sum(2) + (y**2 / var).sum(2))  # (B, K)
        solved = torch.einsum("bke,kde->bkd", y / var, U)  # (B, K, D)
        return self.weights.to(dev).log()[None] + log_normal, solved


class FiniteData:
    """p_data = uniform over N points (N, *shape): eps* is the exact memorising optimum. notebooks/03."""

    def __init__(self, points, alpha_bar, chunk_size=2048):
        self.points = _float64(points, "points")  # (N, *shape)
        if self.points.ndim < 2 or self.points.shape[0] < 1:
            raise ValueError(f"points must have shape (N, *shape) with N >= 1, got {tuple(self.points.shape)}")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        self.alpha_bar = _check_alpha_bar(alpha_bar)  # (T+1,)
        self.chunk_size = chunk_size
        flat = self.points.reshape(self.points.shape[0], -1)  # (N, D)
        self._sq_norms = (flat**2).sum(1)  # (N,)

    @property
    def shape(self):
        return tuple(self.points.shape[1:])

    @property
    def T(self):
        return self.alpha_bar.numel() - 1

    def __repr__(self):
        return f"FiniteData(N={self.points.shape[0]}, shape={self.shape}, T={self.T})"

    def x0_mean(self, x_t, t):
        """E[x_0 | x_t] = sum_i softmax_i(-||x_t - sqrt(a) x_i||^2 / (2 (1 - a))) x_i, shaped like x_t. notebooks/03."""
        x, t = self._inputs(x_t, t)
        mean, _ = self._posterior(x, self.alpha_bar.to(x.device)[t])
        return mean.reshape(x_t.shape).to(x_t.dtype)

    def eps_model(self, x_t, t):
        """eps*(x_t, t) = (x_t - sqrt(a) E[x_0 | x_t]) / sqrt(1 - a); x_t (B, *shape), t (B,) in 1..T. notebooks/03."""
        x, t = self._inputs(x_t, t)
        a = self.alpha_bar.to(x.device)[t][:, None]  # (B, 1)
        mean, _ = self._posterior(x, a[:, 0])  # (B, D)
        return ((x - a.sqrt() * mean) / (1 - a).sqrt()).reshape(x_t.shape).to(x_t.dtype)

    def log_prob(self, x, t):
        """log q_t(x) = logsumexp_i log N(x; sqrt(a) x_i, (1 - a) I) - log N per sample (B,); needs t >= 1. notebooks/03."""
        x64, t = self._inputs(x, t)
        a = self.alpha_bar.to(x64.device)[t]  # (B,)
        _, lse = self._posterior(x64, a)  # (B,)
        D = x64.shape[1]
        return (lse - math.log(self.points.shape[0]) - 0.5 * D * (2 * math.pi * (1 - a)).log()).to(x.dtype)

    def sample_with_labels(self, n, generator=None, dtype=torch.float64):
        """n points drawn uniformly with replacement (n, *shape) and their indices (n,). notebooks/03."""
        n = _check_n(n)
        idx = torch.randint(self.points.shape[0], (n,), generator=generator, device=self.points.device)
        return self.points[idx].to(dtype), idx

    def sample(self, n, generator=None, dtype=torch.float64):
        """n points drawn uniformly with replacement, shape (n, *shape). notebooks/03."""
        return self.sample_with_labels(n, generator, dtype)[0]

    def _inputs(self, x, t):
        x = _check_x(x, self.shape)
        t = _check_t(t, x.shape[0], self.T, x.device, allow_zero=False)
        return x.to(torch.float64).reshape(x.shape[0], -1), t  # (B, D)

    def _posterior(self, x, a):
        """E[x_0 | x_t] (B, D) and logsumexp_i(-||x - sqrt(a) x_i||^2 / (2 (1 - a))) (B,), streaming over chunks of points.

        Online softmax: keep the running maximum m, the sum S of exp(logit - m) and the weighted sum W of
        points; rescale both by exp(m_old - m_new) when the maximum grows, so memory is B x chunk_size.
        """
        dev = x.device
        flat = self.points.to(dev).reshape(self.points.shape[0], -1)  # (N, D)
        sq_norms = self._sq_norms.to(dev)  # (N,)
        s, two_var = a.sqrt()[:, None], 2 * (1 - a)[:, None]  # (B, 1)
        x_sq = (x**2).sum(1, keepdim=True)  # (B, 1)
        m = x.new_full((x.shape[0], 1), -math.inf)  # (B, 1) running max
        S = x.new_zeros(x.shape[0], 1)  # (B, 1)
        W = torch.zeros_like(x)  # (B, D)
        for start in range(0, flat.shape[0], self.chunk_size):
            P = flat[start : start + self.chunk_size]  # (n, D)
            dist2 = (x_sq - 2 * s * (x @ P.T) + s**2 * sq_norms[start : start + self.chunk_size]).clamp(min=0)  # (B, n)
            logits = -dist2 / two_var  # (B, n)
            m_new = torch.maximum(m, logits.max(1, keepdim=True).values)
            rescale = (m - m_new).exp()  # (B, 1); exp(-inf) = 0 on the first chunk
            w = (logits - m_new).exp()  # (B, n)
            S = S * rescale + w.sum(1, keepdim=True)
            W = W * rescale + w @ P
            m = m_new
        return W / S, (m + S.log())[:, 0]


def _float64(x, name):
    x = torch.as_tensor(x)
    if not (x.dtype.is_floating_point or x.dtype in (torch.int32, torch.int64)):
        raise ValueError(f"{name} must be a real tensor, got dtype {x.dtype}")
    x = x.detach().to(torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite (no nan or inf)")
    return x


def _spd(cov, D, name):
    """cov as a float64 symmetric positive definite (D, D) matrix, or a ValueError saying what is wrong."""
    cov = _float64(cov, name)
    if cov.shape != (D, D):
        raise ValueError(f"{name} must have shape (D, D) = ({D}, {D}) to match the mean, got {tuple(cov.shape)}")
    scale = float(cov.abs().max()) or 1.0
    if not bool(((cov - cov.T).abs() <= 1e-10 * scale).all()):
        raise ValueError(f"{name} must be symmetric (cov == cov.T up to round-off)")
    cov = (cov + cov.T) / 2
    min_eig = float(torch.linalg.eigvalsh(cov).min())
    if min_eig <= 0:
        raise ValueError(f"{name} must be positive definite, but its smallest eigenvalue is {min_eig:.3g} <= 0")
    return cov


def _check_alpha_bar(alpha_bar):
    """alpha_bar as float64 (T+1,) after schedules.check_alpha_bar."""
    check_alpha_bar(alpha_bar)
    return alpha_bar.detach().to(torch.float64)


def _check_x(x, shape):
    if not torch.is_tensor(x) or not x.dtype.is_floating_point:
        raise ValueError(f"x must be a floating-point tensor of shape (B, {', '.join(map(str, shape))})")
    if tuple(x.shape[1:]) != tuple(shape) or x.ndim != len(shape) + 1:
        raise ValueError(f"x must have shape (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}")
    return x


def _check_t(t, batch, T, device, allow_zero):
    """t as a LongTensor (B,) on `device`; accepts an int, a 0-d or a (B,) integer tensor."""
    low = 0 if allow_zero else 1
    if isinstance(t, bool) or not (isinstance(t, int) or torch.is_tensor(t)):
        raise ValueError(f"t must be an int or an integer tensor of shape (B,) with values in {low}..T = {low}..{T}, got {t!r}")
    t = torch.as_tensor(t, device=device)
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise ValueError(f"t must hold integers (the paper's t in {low}..{T}), got dtype {t.dtype}")
    if t.ndim == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"t must have shape (B,) = ({batch},) or be a scalar, got {tuple(t.shape)}")
    if batch and (int(t.min()) < low or int(t.max()) > T):
        where = "1..T (t = 0 is data; eps* is undefined there)" if low else "0..T"
        raise ValueError(f"t values must lie in {where} = {low}..{T}, got min {int(t.min())}, max {int(t.max())}")
    return t.long()


def _check_t_int(t, T):
    if isinstance(t, bool) or not isinstance(t, int) and not (torch.is_tensor(t) and t.ndim == 0 and not t.dtype.is_floating_point):
        raise ValueError(f"t must be an integer in 0..T = 0..{T}, got {t!r}")
    t = int(t)
    if not 0 <= t <= T:
        raise ValueError(f"t must lie in 0..T = 0..{T}, got {t}")
    return t


def _check_n(n):
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    return n
