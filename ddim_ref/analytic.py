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

    def sampler_moments(self, tau, eta=0.0, *, use_sigma_hat=False, start="standard", eps_scale=1.0):
        """Exact mean (D,) and covariance (D, D) of `samplers.sample(self.eps_model, x_T, ...)`, eq. (12). notebooks/07.

        eps* is affine in x_t, so every step maps a Gaussian to a Gaussian; in the eigenbasis of Sigma each
        coordinate evolves on its own: y_s = A y_t + b + sigma_noise z. start: "standard" x_T ~ N(0, I) (as
        the course samples; keeps the prior mismatch) or "exact" x_T ~ q(x_{tau_S}) (discretisation error only).
        Same coefficients as `samplers.sample` (sigma-hat: direction from sigma_t(eta = 1), no noise into t = 0).
        eps_scale: a float or a function of t returning a float or a (D,) tensor: the sampler then uses an inexact
        predictor that scales eps* by that factor, per eigen-direction of Sigma for a tensor (U diag(s) U^T eps*).
        Its output is still exactly Gaussian: what fresh noise forgives, in closed form (notebooks/07).
        """
        mu, var = self._sampler_eigen_moments(tau, eta, use_sigma_hat, start, eps_scale)
        return self._U @ mu, (self._U * var) @ self._U.T

    def sampler_w2_kl(self, tau, eta=0.0, *, use_sigma_hat=False, start="standard", eps_scale=1.0):
        """W2 and KL(samples || data) of the exact sampler output (`sampler_moments`) against N(m, Sigma). notebooks/07.

        Both Gaussians share Sigma's eigenvectors, so with eigenvalues v_i (samples) and lam_i (data) and the
        mean difference d in that basis: W2^2 = |d|^2 + sum (sqrt(v_i) - sqrt(lam_i))^2 and
        KL = sum (v_i / lam_i - 1 - log(v_i / lam_i) + d_i^2 / lam_i) / 2 (tested against metrics' general formulas).
        """
        mu, var = self._sampler_eigen_moments(tau, eta, use_sigma_hat, start, eps_scale)
        d, lam = mu - self._U.T @ self.mean, self._lam  # (D,), (D,)
        w2 = float(((d**2).sum() + ((var.sqrt() - lam.sqrt()) ** 2).sum()).sqrt())
        kl = float(0.5 * (var / lam - 1 - (var / lam).log() + d**2 / lam).sum())
        return w2, kl

    def ode_solution(self, x, t_from, t_to):
        """Exact flow of the DDIM ODE (eq. 14) with eps*, x (B, D) at t_from -> (B, D) at t_to, t in 0..T. notebooks/08.

        The flow keeps the standardised eigen-coordinates z = U^T (x_t - sqrt(a_t) m) / sqrt(a_t lam + 1 - a_t) fixed
        (notebooks/05: in x_bar = x / sqrt(a), x_bar - m scales by sqrt((lam + sigma^2) / (lam + sigma_0^2))), so
        x_{t_to} = sqrt(a) m + U diag(sqrt(a lam + 1 - a)) z with a = alpha_bar[t_to]. Also valid at a = 0 (zero
        terminal SNR: z = U^T x_T) and at t = 0 (data), in both directions (sampling and encoding).
        """
        x64 = _check_x(x, (self.dim,)).to(torch.float64)
        a0, a1 = (float(self.alpha_bar[_check_t_int(t, self.T)]) for t in (t_from, t_to))
        lam, U, m = (v.to(x64.device) for v in (self._lam, self._U, self.mean))
        z = ((x64 - a0**0.5 * m) @ U) / (a0 * lam + 1 - a0).sqrt()  # (B, D), unchanged along the flow
        return (a1**0.5 * m + (z * (a1 * lam + 1 - a1).sqrt()) @ U.T).to(x.dtype)

    def x0_mean(self, x_t, t):
        """E[x_0 | x_t] = m + sqrt(a) Sigma cov_t^{-1} (x_t - sqrt(a) m) (Tweedie), (B, D); t in 0..T, also at a = 0. notebooks/08.

        Unlike eq. (9), (x_t - sqrt(1 - a) eps*) / sqrt(a), it stays finite at alpha_T = 0 (zero terminal SNR), where x_t
        says nothing about x_0 and E[x_0 | x_t] = m.
        """
        x, a = self._inputs(x_t, t, allow_zero=True)
        y, var = self._eigen_coords(x, a)  # (B, D), (B, D)
        gain = a.sqrt()[:, None] * self._lam.to(x.device) / var  # (B, D) sqrt(a) lam / (a lam + 1 - a)
        return (self.mean.to(x.device) + (gain * y) @ self._U.to(x.device).T).to(x_t.dtype)

    def v_model(self, x_t, t):
        """The exact v*(x_t, t) = sqrt(a) eps* - sqrt(1 - a) E[x_0 | x_t] (Salimans & Ho 2022), (B, D); -m at a = 0. notebooks/08.

        Wrap it with forward.eps_model_from_v(v_model, alpha_bar) to sample a zero-terminal-SNR schedule from t = T.
        """
        eps = self.eps_model(x_t, t).to(torch.float64)  # (B, D); = x_t where a = 0
        a = self.alpha_bar.to(x_t.device)[_check_t(t, x_t.shape[0], self.T, x_t.device, False)][:, None]  # (B, 1)
        return (a.sqrt() * eps - (1 - a).sqrt() * self.x0_mean(x_t, t).to(torch.float64)).to(x_t.dtype)

    def _sampler_eigen_moments(self, tau, eta, use_sigma_hat, start, eps_scale=1.0):
        """Mean (D,) and variances (D,) of the sampler output in the eigenbasis of Sigma (see sampler_moments)."""
        from .samplers import ddim_sigma, sigma_hat
        from .schedules import check_tau

        tau = check_tau(tau, self.T)
        if start not in ("standard", "exact"):
            raise ValueError(f"start must be 'standard' (x_T ~ N(0, I)) or 'exact' (x_T ~ q(x_tau_S)), got {start!r}")
        ab = self.alpha_bar.tolist()
        lam, m = self._lam, self._U.T @ self.mean  # (D,), (D,) the data in the eigenbasis
        ts = tau.flip(0).tolist()
        a_T = ab[ts[0]]
        mu = a_T**0.5 * m if start == "exact" else torch.zeros_like(m)  # (D,)
        var = a_T * lam + 1 - a_T if start == "exact" else torch.ones_like(lam)  # (D,)
        for t, s in zip(ts, ts[1:] + [0]):
            a, a_s = ab[t], ab[s]
            if use_sigma_hat:
                noise, direction = (sigma_hat(a, a_s) if s > 0 else 0.0), ddim_sigma(a, a_s, 1.0)
            else:
                noise = direction = ddim_sigma(a, a_s, float(eta))
            k = (1 - a) ** 0.5 / (a * lam + 1 - a)  # (D,) eps* = k (y - sqrt(a) m)
            k = k * (eps_scale(t) if callable(eps_scale) else eps_scale)  # an inexact predictor: eps_scale * eps*
            g = max(1 - a_s - direction**2, 0.0) ** 0.5 - (a_s * (1 - a) / a) ** 0.5  # coefficient of eps in x_s
            A = (a_s / a) ** 0.5 + g * k  # (D,)
            mu = A * mu - g * k * a**0.5 * m
            var = A**2 * var + noise**2
        return mu, var

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
    """p_data = sum_k w_k N(m_k, Sigma_k) in R^D with the exact eps* of its diffused marginals. notebooks/03.

    labels (K,): the class of each component, for the class-conditional eps* of notebooks/09; by default
    component k has label k. Classes are 0..C-1, every class needs a component.
    """

    def __init__(self, weights, means, covs, alpha_bar, labels=None):
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
        self.labels = _check_labels(labels, K)  # (K,) class of each component

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

    # Class conditioning (notebooks/09): p(x | y) is the mixture of the components with label y.

    @property
    def num_classes(self):
        """Number of classes C; labels are 0..C-1 and C is the null label (the unconditional model), as in unet.UNet."""
        return int(self.labels.max()) + 1

    def conditional_eps_model(self, x_t, t, y=None):
        """eps*(x_t, t | y) = -sqrt(1 - a) grad log q_t(x_t | y); y: int or (B,) in 0..C, None or C = unconditional. notebooks/09.

        The sum over components of `eps_model` restricted to class y's components: r_k(x_t) becomes
        p(k | x_t, y), the softmax over those components only. A per-sample y may mix labels and the null label.
        """
        x, t = self._inputs(x_t, t, allow_zero=False)
        a = self.alpha_bar.to(x.device)[t]  # (B,)
        log_joint, solved = self._components(x, a)  # (B, K), (B, K, D)
        r = torch.softmax(log_joint + self._class_mask(y, x.shape[0], x.device, allow_null=True), dim=1)  # (B, K)
        return ((1 - a).sqrt()[:, None] * (r[:, :, None] * solved).sum(1)).to(x_t.dtype)

    def class_log_prob(self, x, y, t=0):
        """log q_t(x | y) = logsumexp_{k: label y} log(w_k N_k(x)) - log p(y) per sample (B,); y: int or (B,) in 0..C-1. notebooks/09."""
        x64, t = self._inputs(x, t, allow_zero=True)
        log_joint, _ = self._components(x64, self.alpha_bar.to(x64.device)[t])  # (B, K)
        mask = self._class_mask(y, x64.shape[0], x64.device, allow_null=False)  # (B, K): 0 or -inf
        log_p_y = torch.logsumexp(self.weights.to(x64.device).log()[None] + mask, dim=1)  # (B,)
        return (torch.logsumexp(log_joint + mask, dim=1) - log_p_y).to(x.dtype)

    def class_probabilities(self, x, t=0):
        """p(y | x_t) (B, C): the responsibilities summed over each class's components (the Bayes classifier). notebooks/09."""
        r = self.responsibilities(x, t)  # (B, K)
        out = torch.zeros(r.shape[0], self.num_classes, dtype=r.dtype, device=r.device)
        return out.index_add_(1, self.labels.to(r.device), r)

    def given(self, y):
        """The class-y mixture p(x | y) (its components, weights renormalised, all labelled 0) as a GaussianMixture. notebooks/09."""
        if isinstance(y, bool) or not isinstance(y, int) or not 0 <= y < self.num_classes:
            raise ValueError(f"given(y) takes one class label, an int in 0..{self.num_classes - 1}, got {y!r}")
        keep = self.labels == y  # (K,)
        w = self.weights[keep]
        return GaussianMixture(w / w.sum(), self.means[keep], self.covs[keep], self.alpha_bar, torch.zeros(len(w), dtype=torch.long))

    def _class_mask(self, y, batch, device, allow_null):
        """(B, K) float64: 0 on the components of class y_b, -inf elsewhere; all 0 for the null label (None or C)."""
        if y is None and allow_null:
            return torch.zeros(batch, self.labels.numel(), dtype=torch.float64, device=device)
        y = _check_y(y, batch, self.num_classes, device, allow_null)  # (B,)
        keep = self.labels.to(device)[None, :] == y[:, None]  # (B, K)
        keep = keep | (y == self.num_classes)[:, None]  # the null label keeps every component
        return torch.zeros(keep.shape, dtype=torch.float64, device=device).masked_fill(~keep, -math.inf)

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


def _check_labels(labels, K):
    """Component classes as a LongTensor (K,) (default: component k has label k); every class 0..C-1 needs a component."""
    if labels is None:
        return torch.arange(K)
    labels = torch.as_tensor(labels)
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool or labels.shape != (K,):
        raise ValueError(f"labels must be integers of shape (K,) = ({K},), one class per component, got {labels!r}")
    labels = labels.long().cpu()
    if int(labels.min()) < 0:
        raise ValueError(f"labels must be >= 0, got {labels.tolist()}")
    if not bool((torch.bincount(labels) > 0).all()):
        raise ValueError(f"labels must use every class 0..C-1 (C = max + 1) at least once, got {labels.tolist()}")
    return labels


def _check_y(y, batch, C, device, allow_null):
    """Class labels as a LongTensor (B,); an int or 0-d tensor is broadcast. Classes 0..C-1, and C (null) if allowed."""
    top = C if allow_null else C - 1
    allowed = f"0..{C - 1} (the classes)" + (f" or {C} (the null label, also y=None)" if allow_null else "")
    if y is None:
        raise ValueError(f"y must be a class label in {allowed}; for the unconditional density use log_prob")
    if isinstance(y, bool) or not (isinstance(y, int) or torch.is_tensor(y)):
        raise ValueError(f"y must be an int or an integer tensor of shape (B,) with values in {allowed}, got {y!r}")
    y = torch.as_tensor(y, device=device)
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise ValueError(f"y must hold integer labels in {allowed}, got dtype {y.dtype}")
    if y.ndim == 0:
        y = y.expand(batch)
    if y.shape != (batch,):
        raise ValueError(f"y must be an int or have shape (B,) = ({batch},), got {tuple(y.shape)}")
    if batch and (int(y.min()) < 0 or int(y.max()) > top):
        raise ValueError(f"labels must lie in {allowed}, got values in {int(y.min())}..{int(y.max())}")
    return y.long()


def _check_n(n):
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    return n
