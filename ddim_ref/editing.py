"""Editing real data with a pretrained eps-model: SDEdit and DDIM inversion + guided regeneration. notebooks/09.

Both take any eps-model (x_t, t), e.g. `guidance.classifier_free(model, y_target, w)` to move data of one
class towards another.

- SDEdit (Meng et al., ICLR 2022): noise x_0 to an intermediate t0 with q(x_t0 | x_0) (eq. 4), then denoise
  with the model. Small t0 stays faithful to x_0, large t0 gives what the model prefers (at t0 = T the input
  is forgotten: it enters x_T with weight sqrt(alpha_T)).
- DDIM inversion (section 5.4 of the DDIM paper, `samplers.encode`): run the eta = 0 update forwards under
  a source model, then decode the latent with eta = 0 under a target model. Decoding with the encoding model
  gives x_0 back up to the inversion error, which guidance (w > 0) amplifies; null-text inversion (Mokady
  et al., CVPR 2023) starts from an unguided inversion and then corrects the guided decoding. Exact inversion
  (iters = K > 0) solves each step's implicit equation by fixed-point iteration: under guidance it
  reconstructs typical points to round-off, but near a class boundary the guided eps changes so fast with x
  that the iteration need not contract unless the steps are small (tests/test_editing.py). EDICT (Wallace
  et al., CVPR 2023) and CFG++ (Chung et al. 2024) are ways to keep guided sampling invertible.

`inversion_step_gaps` measures, step by step, how far decoding misses the encoder's start (the reason
guided inversion fails), `encode_path` keeps every state the encoder visits (where the fixed-point map's
contraction can be measured), and `edit_scores` the faithfulness (distance to the input) and the success for
the target class (the course classifier's probability of it, and the hit rate) of MNIST edits.
"""

import torch

from . import forward, samplers, schedules
from .schedules import check_alpha_bar


def sdedit(eps_model, x0, alpha_bar, t0, S, *, eta=1.0, generator=None, noise=None, progress=False):
    """SDEdit (Meng et al. 2022): x_t0 = sqrt(a_t0) x0 + sqrt(1 - a_t0) z (eq. 4), then S steps of eq. (12) to t = 0. notebooks/09.

    The steps visit tau_i = round(i t0 / S), i = S..1 (`schedules.timesteps(t0, S, "trailing")`: S points
    of 1..t0 ending at t0), then t = 0. eta = 1 (default) is DDPM's ancestral sampler, the discretised reverse
    SDE of the paper; eta = 0 the deterministic DDIM variant. z is `noise` (shaped like x0) or drawn from
    `generator`, which also draws the noise of the steps. Returns the edited x0, shaped like x0.
    """
    T = check_alpha_bar(alpha_bar)
    if isinstance(t0, bool) or not isinstance(t0, int) or not 1 <= t0 <= T:
        raise ValueError(f"t0 must be an integer in 1..T = 1..{T} (how far to noise x0), got {t0!r}")
    if isinstance(S, bool) or not isinstance(S, int) or not 1 <= S <= t0:
        raise ValueError(f"S must be an integer in 1..t0 = 1..{t0} (the number of denoising steps), got {S!r}")
    if not torch.is_tensor(x0) or not x0.dtype.is_floating_point:
        raise ValueError(f"x0 must be a floating-point tensor (B, ...), got {type(x0).__name__}")
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    elif noise.shape != x0.shape:
        raise ValueError(f"noise has shape {tuple(noise.shape)} but x0 has shape {tuple(x0.shape)}; they must match")
    x_t0 = forward.q_sample(x0, float(alpha_bar[t0]), noise)  # (B, ...)
    tau = schedules.timesteps(t0, S, "trailing")  # (S,) in 1..t0, tau_S = t0
    return samplers.sample(eps_model, x_t0, alpha_bar, tau, eta=eta, generator=generator, progress=progress)


def ddim_edit(source_model, target_model, x0, alpha_bar, tau, *, iters=0, progress=False):
    """Invert x0 with `samplers.encode` under source_model, decode the latent with eta = 0 under target_model. notebooks/09.

    Returns (x_edit, x_latent): the edited data shaped like x0 and the latent x_{tau_S}. The same model twice
    gives the reconstruction of x0 (exact as iters grows); a tau that ends below T edits from an intermediate
    latent (as SDEdit, but deterministic). Network calls: S (iters + 1) to encode, S to decode, times two
    for a guided model.
    """
    x_latent = samplers.encode(source_model, x0, alpha_bar, tau, iters=iters, progress=progress)
    x_edit = samplers.sample(target_model, x_latent, alpha_bar, tau, eta=0.0, progress=progress)
    return x_edit, x_latent


def encoder_step(eps_model, x_s, ab, s, t, iters, t_batch=None):
    """One step s -> t of `samplers.encode` (the usual step, then `iters` fixed-point updates with eps at the label t). notebooks/09.

    ab: alpha_bar as a list of floats; x_s (B, ...). Network calls: iters + 1.
    """
    t_batch = torch.empty(x_s.shape[0], dtype=torch.long, device=x_s.device) if t_batch is None else t_batch
    x_t = x_s
    for _ in range(iters + 1):
        eps = eps_model(x_t, t_batch.fill_(t))
        x_t = ab[t] ** 0.5 * ((x_s - (1 - ab[s]) ** 0.5 * eps) / ab[s] ** 0.5) + (1 - ab[t]) ** 0.5 * eps
    return x_t


@torch.no_grad()
def encode_path(eps_model, x0, alpha_bar, tau, *, iters=0):
    """Every state x_{tau_1}, ..., x_{tau_S} (S, B, ...) of `samplers.encode`; the last is its latent. notebooks/09.

    The same arithmetic as samplers.encode. Row i is the encoder's state at the end of the step tau_{i-1} -> tau_i
    (tau_0 = 0): the usual inversion's point (iters = 0) or the last fixed-point iterate (iters = K), which is the
    fixed point once the iteration has converged. Evaluating the field there gives each step's residual and the
    Jacobian of the fixed-point map (the contraction factor of notebooks/09). Network calls: S (iters + 1).
    """
    T = check_alpha_bar(alpha_bar)
    tau = schedules.check_tau(tau, T)
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 0:
        raise ValueError(f"iters must be an integer >= 0 (0: the usual DDIM inversion), got {iters!r}")
    ab = alpha_bar.detach().cpu().double().tolist()
    x, path = x0, []
    t_batch = torch.empty(x0.shape[0], dtype=torch.long, device=x0.device)
    for s, t in zip([0] + tau[:-1].tolist(), tau.tolist()):
        x = encoder_step(eps_model, x, ab, s, t, iters, t_batch)
        path.append(x)
    return torch.stack(path)  # (S, B, ...)


@torch.no_grad()
def inversion_step_gaps(eps_model, x0, alpha_bar, tau, *, iters=0):
    """Per-step gap |x_s - decode_step(encode_step(x_s))| (S, B) of `samplers.encode`: the change of eps along the step. notebooks/09.

    The encoder's step s -> t uses e = eps(x_s, t) (iters = 0) or the fixed point; the decoder's step t -> s
    (eq. 12, eta = 0) uses eps(x_t, t). Their mismatch is x_s' - x_s = sqrt(a_s) (sigma_t - sigma_s) (e - eps(x_t, t)),
    sigma = sqrt((1 - a) / a): large where eps changes fast along the path, as under guidance. Row i is the
    step tau_{i-1} -> tau_i (tau_0 = 0); the norm is over all but the batch dimension. Returns (gaps (S, B),
    the latent x_{tau_S}, the same as samplers.encode's). Network calls: S (iters + 2).
    """
    T = check_alpha_bar(alpha_bar)
    tau = schedules.check_tau(tau, T)
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 0:
        raise ValueError(f"iters must be an integer >= 0 (0: the usual DDIM inversion), got {iters!r}")
    ab = alpha_bar.detach().cpu().double().tolist()
    x, gaps = x0, []
    t_batch = torch.empty(x0.shape[0], dtype=torch.long, device=x0.device)
    for s, t in zip([0] + tau[:-1].tolist(), tau.tolist()):
        x_t = encoder_step(eps_model, x, ab, s, t, iters, t_batch)
        back, _ = samplers.ddim_step(x_t, eps_model(x_t, t_batch.fill_(t)), ab[t], ab[s], 0.0)  # the decoder's step t -> s
        gaps.append((back - x).flatten(1).norm(dim=1))
        x = x_t
    return torch.stack(gaps), x


@torch.no_grad()
def edit_scores(x_edit, x0, label, classifier=None):
    """Faithfulness and success of MNIST edits: distance to the input and the course classifier's p(label | x_edit). notebooks/09.

    x_edit, x0: images (B, 1, 28, 28) in [-1, 1]; label: the class the edit aims at (int). Returns means over the
    images with standard errors: "distance" (per-pixel MSE on the [0, 1] scale, Table 2's measure), "p_label"
    (the classifier's probability of `label`) and "hit" (the share of edits the classifier assigns to `label`),
    and the per-image values "distances", "p_labels". classifier=None loads the course's (ddim_ref.classifier).
    """
    from . import data
    from .classifier import load_classifier

    if not torch.is_tensor(x_edit) or not torch.is_tensor(x0) or x_edit.shape != x0.shape or x0.ndim != 4:
        raise ValueError(f"x_edit and x0 must be image tensors (B, 1, 28, 28) of the same shape, got "
                         f"{getattr(x_edit, 'shape', type(x_edit).__name__)} and {getattr(x0, 'shape', type(x0).__name__)}")
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label <= 9:
        raise ValueError(f"label must be an MNIST class, an int in 0..9, got {label!r}")
    classifier = load_classifier() if classifier is None else classifier
    param = next(classifier.parameters())
    probs = torch.softmax(classifier(x_edit.to(param.device, param.dtype)), dim=1).double().cpu()  # (B, 10)
    dist = ((data.to_unit(x_edit) - data.to_unit(x0)) ** 2).flatten(1).mean(1).double().cpu()  # (B,)
    p = probs[:, label]
    hit = (probs.argmax(1) == label).double()
    se = lambda v: float(v.std() / len(v) ** 0.5) if len(v) > 1 else float("nan")  # noqa: E731
    return {"distance": float(dist.mean()), "distance_se": se(dist), "p_label": float(p.mean()), "p_label_se": se(p),
            "hit": float(hit.mean()), "hit_se": se(hit), "distances": dist, "p_labels": p}
