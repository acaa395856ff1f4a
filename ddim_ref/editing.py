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
