"""Command line: `python -m ddim_ref {train, sample, encode, evaluate, reproduce, train-classifier} --help`. README "Command line"."""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from . import checkpoint

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINT = REPO / "data" / "checkpoints" / "mnist_unet_ema.pt"  # = models.DEFAULT_CHECKPOINT (cli imports no torch model code)


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument prints one line `error: ...` (no usage block) and exits with status 2."""

    def error(self, message):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _int_at_least(low):
    """An argparse type: an integer >= low, or a one-line error that says the allowed range."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value
    return parse


def _float_in(low, high=None, open_low=False):
    """An argparse type: a float in [low, high] ((low, high] if open_low), or a one-line error with the range."""
    allowed = f"{'(' if open_low else '['}{low}, {'inf)' if high is None else str(high) + ']'}"

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number in {allowed}, got {text!r}")
        if value < low or (open_low and value == low) or (high is not None and value > high) or value != value:
            raise argparse.ArgumentTypeError(f"must lie in {allowed}, got {value}")
        return value
    return parse


POSITIVE, NON_NEGATIVE = _int_at_least(1), _int_at_least(0)
SPACING_CHOICES = ["uniform", "quadratic", "trailing", "linspace"]


def build_parser():
    """The argument parser of `python -m ddim_ref` (every command has --help)."""
    parser = _Parser(prog="python -m ddim_ref", description=__doc__.split(":")[0])
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error (or set DDIM_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train a noise predictor (U-Net on MNIST, MLP on toy data); resumes automatically; "
                                      "the defaults are the shipped checkpoint's recipe (notebooks/06)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="mnist", choices=["mnist", "moons", "swiss_roll", "ring", "checkerboard"])
    p.add_argument("--out", default="runs/mnist", help="run folder: last.pt (full state), ema.pt, sample grids")
    p.add_argument("--steps", type=POSITIVE, default=4500)
    p.add_argument("--batch-size", type=POSITIVE, default=128, help="per process")
    p.add_argument("--lr", type=_float_in(0, open_low=True), default=1e-3)
    p.add_argument("--warmup-steps", type=NON_NEGATIVE, default=200)
    p.add_argument("--min-lr-ratio", type=_float_in(0, 1, open_low=True), default=1.0,
                   help="cosine decay to lr * this at the last step (1: constant)")
    p.add_argument("--ema-decay", type=_float_in(0, 0.999999), default=0.9999)
    p.add_argument("--grad-clip", type=_float_in(0, open_low=True), default=1.0)
    p.add_argument("--schedule", default="linear", choices=["linear", "cosine"])
    p.add_argument("--seed", type=NON_NEGATIVE, default=0)
    p.add_argument("--base-channels", type=POSITIVE, default=16, help="U-Net width")
    p.add_argument("--channel-mults", default="1,2,4", help="U-Net levels (comma-separated)")
    p.add_argument("--num-res-blocks", type=POSITIVE, default=1, help="U-Net residual blocks per level")
    p.add_argument("--dropout", type=_float_in(0, 0.99), default=0.0)
    p.add_argument("--parametrisation", default="skip", choices=["eps", "skip"],
                   help="eps: the U-Net outputs eps; skip: eps = sqrt(1 - alpha_t) x_t + sqrt(alpha_t) F (F = v)")
    p.add_argument("--conditional", action="store_true", help="class-conditional U-Net (MNIST labels, null label for guidance)")
    p.add_argument("--p-uncond", type=_float_in(0, 0.99), default=0.15, help="with --conditional: probability of the null label")
    p.add_argument("--hidden", type=POSITIVE, default=128, help="MLP width (toy data)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--compile", action="store_true", help="torch.compile the network")
    p.add_argument("--no-resume", action="store_true", help="start over even if OUT/last.pt exists")
    p.add_argument("--stop-after", type=POSITIVE, default=None, help="stop after this step (resume later)")
    p.add_argument("--ckpt-every", type=POSITIVE, default=500)
    p.add_argument("--sample-every", type=NON_NEGATIVE, default=2000, help="write a DDIM sample grid every N steps (0: never)")
    p.add_argument("--snapshot-every", type=NON_NEGATIVE, default=0,
                   help="also keep the EMA weights every N steps as ema_NNNNNN.pt (0: never)")
    p.add_argument("--export", default=None, help="at the end, copy the EMA weights and sidecar to this path")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="DDIM/DDPM samples from a checkpoint: a PNG grid or a .pt tensor",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_sampling_args(p)
    p.add_argument("--n", type=POSITIVE, default=64, help="number of images")
    p.add_argument("--label", type=NON_NEGATIVE, default=None, help="class label (class-conditional checkpoints only)")
    p.add_argument("--guidance", type=_float_in(0), default=0.0,
                   help="classifier-free guidance weight w >= 0 with --label: (1 + w) eps(x, t, y) - w eps(x, t, null)")
    p.add_argument("--out", default="samples.png", help="a .png grid (the tensor is saved beside it as .pt) or a .pt "
                                                       "file: float tensor (N, 1, 28, 28) in [-1, 1]")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("encode", help="encode MNIST test images into x_T (eta = 0) and decode them back",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    p.add_argument("--S", type=POSITIVE, default=50, help="steps for encoding and for decoding")
    p.add_argument("--iters", type=NON_NEGATIVE, default=0, help="fixed-point iterations per encoding step (0: usual DDIM inversion)")
    p.add_argument("--spacing", default="uniform", choices=SPACING_CHOICES)
    p.add_argument("--n", type=POSITIVE, default=16, help="number of test images (from --start)")
    p.add_argument("--start", type=NON_NEGATIVE, default=0, help="index of the first MNIST test image")
    p.add_argument("--out", default="encode.png", help="PNG: originals / latents / reconstructions (+ .pt)")
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("evaluate", help="the course's FID and KID (MNIST-classifier features) of generated samples",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_sampling_args(p)
    p.add_argument("--n", type=_int_at_least(129), default=1000, help="number of samples (> 128, the feature dimension)")
    p.add_argument("--out", default=None, help="append the result (with provenance) to this JSON list, "
                                                "replacing an earlier record of the same settings")
    p.add_argument("--real", action="store_true", help="score n held-out real MNIST images instead of samples "
                                                       "(the floor of the FID at this n)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("reproduce", help="the paper's experiments at MNIST scale (Table 1, Table 2, spacing, figures, "
                                         "the exact-predictor Table 1); resumable, skips stored cells")
    experiments = p.add_subparsers(dest="experiment", required=True, parser_class=_Parser)
    q = experiments.add_parser("table1", help="FID/KID for S x eta (and sigma-hat) x spacing, like the paper's Table 1",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_fid_table_args(q, S="10,20,50,100,1000", variants="0,0.2,0.5,1,sigma-hat", spacings="uniform,quadratic")
    q = experiments.add_parser("spacing", help="FID/KID of eta = 0 at small S for the tau spacings (uniform never visits T)",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_fid_table_args(q, S="10,20", variants="0", spacings="uniform,trailing,linspace")
    q = experiments.add_parser("table2", help="reconstruction MSE of DDIM encode -> decode with S steps, like Table 2",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_experiment_args(q, "10,20,50,100,200,500,1000", str(REPO / "data" / "results" / "reconstruction.json"))
    q.add_argument("--n", type=_int_at_least(2), default=50, help="number of MNIST test images")
    q.add_argument("--start", type=NON_NEGATIVE, default=0, help="index of the first MNIST test image")
    q.add_argument("--spacing", default="uniform", choices=SPACING_CHOICES)
    q.add_argument("--iters", type=NON_NEGATIVE, default=0, help="fixed-point iterations per encoding step (exact inversion)")
    q = experiments.add_parser("figures", help="PNG figures: consistency over S, slerp interpolation, samples per (S, eta)",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    q.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    q.add_argument("--out", default=str(REPO / "data" / "results" / "figures"), help="folder for the PNG files")
    q.add_argument("--S", default="10,20,50,100,1000", help="steps of the consistency figure")
    q.add_argument("--sampler-S", default="10,100", help="one figure of samples per sampler for each of these S")
    q.add_argument("--clip-x0", action="store_true", help="clamp each x0 prediction to [-1, 1]")
    q.add_argument("--seed", type=NON_NEGATIVE, default=0)
    q.add_argument("--device", default=None)
    q = experiments.add_parser("ablation", help="FID/KID of training runs' EMA snapshots at equal settings (notebooks/06)",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    q.add_argument("--checkpoints", required=True, help="comma-separated EMA checkpoints (with sidecars), e.g. runs/a/ema_004000.pt")
    q.add_argument("--S", default="10,50", help="comma-separated numbers of steps")
    q.add_argument("--etas", default="0,1", help="comma-separated etas")
    q.add_argument("--n", type=_int_at_least(129), default=500, help="samples per cell")
    q.add_argument("--seed", type=NON_NEGATIVE, default=0)
    q.add_argument("--out", default=str(REPO / "data" / "results" / "ablation.json"), help="JSON results file")
    q.add_argument("--batch-size", type=POSITIVE, default=250)
    q.add_argument("--device", default=None)
    q = experiments.add_parser("solvers", help="FID/KID against network calls for DDIM (eta 0, 1), Heun, DPM-Solver-2, "
                                               "DPM-Solver++(2M) (notebooks/08)",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_experiment_args(q, "5,10,15,20,30,50", str(REPO / "data" / "results" / "solvers.json"))
    q.add_argument("--solvers", default="ddim,ddim_eta1,heun,dpm_solver_2,dpm_solver_pp_2m", help="comma-separated solvers")
    q.add_argument("--spacing", default="linspace", choices=SPACING_CHOICES)
    q.add_argument("--n", type=_int_at_least(129), default=500, help="samples per cell")
    q.add_argument("--seed", type=NON_NEGATIVE, default=0)
    q = experiments.add_parser("guidance", help="per-class FID/KID, accuracy and diversity of classifier-free guided "
                                                "samples against the guidance weight (notebooks/09)",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    q.add_argument("--checkpoint", default=str(REPO / "data" / "checkpoints" / "mnist_unet_conditional_ema.pt"))
    q.add_argument("--labels", default="0,1,2,3,4,5,6,7,8,9", help="comma-separated classes")
    q.add_argument("--ws", default="0,1,2,4", help="comma-separated guidance weights w >= 0")
    q.add_argument("--S", type=POSITIVE, default=20)
    q.add_argument("--eta", type=_float_in(0), default=0.0)
    q.add_argument("--spacing", default="uniform", choices=SPACING_CHOICES)
    q.add_argument("--n", type=_int_at_least(129), default=500, help="samples per (label, w)")
    q.add_argument("--seed", type=NON_NEGATIVE, default=0)
    q.add_argument("--out", default=str(REPO / "data" / "results" / "guidance.json"), help="JSON results file")
    q.add_argument("--batch-size", type=POSITIVE, default=250)
    q.add_argument("--device", default=None)
    q.add_argument("--dry-run", action="store_true", help="list the cells and which are stored; compute nothing")
    q = experiments.add_parser("eps-error", help="the network's noise-prediction error and scale on held-out images, per t",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_experiment_args(q, ",".join(map(str, (1, 10, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000))),
                         str(REPO / "data" / "results" / "eps_error.json"))
    q.add_argument("--n", type=_int_at_least(2), default=1000, help="number of MNIST test images per t")
    q.add_argument("--seed", type=NON_NEGATIVE, default=0)
    q = experiments.add_parser("exact-table1", help="Table 1 with the exact eps* of the Gaussian fitted to MNIST: "
                                                    "W2 and KL in closed form (seconds, no network)",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    q.add_argument("--S", default="10,20,50,100,1000", help="comma-separated numbers of steps")
    q.add_argument("--out", default=str(REPO / "data" / "results" / "exact_table1.json"), help="JSON results file (rewritten)")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("train-classifier", help="train the MNIST classifier whose features define the course's FID",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default=str(REPO / "data" / "classifier" / "mnist_classifier.pt"))
    p.add_argument("--epochs", type=POSITIVE, default=3)
    p.add_argument("--seed", type=NON_NEGATIVE, default=0)
    p.set_defaults(func=cmd_train_classifier)
    return parser


def main(argv=None):
    """Entry point of `python -m ddim_ref` and the `ddim-ref` script: bad input gives one line `error: ...` and status 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError) as e:  # bad arguments, missing or corrupted files: the message says what to do
        if args.debug or os.environ.get("DDIM_DEBUG"):
            raise
        message = " ".join(str(e).split())  # one line
        print(f"error: {message} (--debug shows the traceback)", file=sys.stderr)
        return 2


def _add_sampling_args(p):
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="EMA weights with a JSON sidecar")
    p.add_argument("--S", type=POSITIVE, default=50, help="number of sampling steps (len(tau))")
    p.add_argument("--eta", type=_float_in(0), default=0.0, help="0: DDIM, 1: DDPM posterior variance (eq. 16)")
    p.add_argument("--sigma-hat", action="store_true", help="use the sigma-hat variant of Table 1 (ignores --eta)")
    p.add_argument("--spacing", default="uniform", choices=SPACING_CHOICES)
    p.add_argument("--seed", type=NON_NEGATIVE, default=0)
    p.add_argument("--clip-x0", action="store_true", help="clamp each x0 prediction to [-1, 1] (DDPM's default)")
    p.add_argument("--batch-size", type=POSITIVE, default=250)
    p.add_argument("--device", default=None)


def _add_experiment_args(p, S, out):
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    p.add_argument("--S", default=S, help="comma-separated numbers of steps")
    p.add_argument("--out", default=out, help="JSON results file: stored cells of this checkpoint are skipped")
    p.add_argument("--batch-size", type=POSITIVE, default=250)
    p.add_argument("--device", default=None)
    p.add_argument("--dry-run", action="store_true", help="list the cells and which are stored; compute nothing")


def _add_fid_table_args(p, S, variants, spacings):
    _add_experiment_args(p, S, str(REPO / "data" / "results" / "fid.json"))
    p.add_argument("--etas", default=variants, help="comma-separated etas; 'sigma-hat' for the sigma-hat sampler")
    p.add_argument("--spacings", default=spacings, help="comma-separated tau spacings")
    p.add_argument("--n", type=_int_at_least(129), default=1000,
                   help="samples per cell (> 128, the feature dimension; compare only at equal n)")
    p.add_argument("--seed", type=NON_NEGATIVE, default=0)
    p.add_argument("--clip-x0", action="store_true", help="clamp each x0 prediction to [-1, 1]")


def _int_list(text, what):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"{what} must be comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise ValueError(f"{what} must be positive integers, got {text!r}")
    return values


def cmd_train(args):
    from .mlp import MLPConfig
    from .train import TrainConfig, train
    from .unet import UNetConfig

    cfg = TrainConfig(dataset=args.dataset, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      warmup_steps=args.warmup_steps, min_lr_ratio=args.min_lr_ratio, ema_decay=args.ema_decay,
                      grad_clip=args.grad_clip, schedule=args.schedule, seed=args.seed,
                      p_uncond=args.p_uncond if args.conditional else 0.0)
    if args.dataset == "mnist":
        mults = tuple(int(m) for m in args.channel_mults.split(","))
        model_config = UNetConfig(base_channels=args.base_channels, channel_mults=mults, num_res_blocks=args.num_res_blocks,
                                  dropout=args.dropout, T=cfg.T, parametrisation=args.parametrisation,
                                  num_classes=10 if args.conditional else 0)
    else:
        model_config = MLPConfig(hidden=args.hidden, T=cfg.T)
    result = train(cfg, model_config, args.out, device=args.device, resume=not args.no_resume,
                   stop_after=args.stop_after, compile=args.compile, ckpt_every=args.ckpt_every,
                   sample_every=args.sample_every, snapshot_every=args.snapshot_every)
    losses = result["losses"]
    print(f"step {result['step']}/{cfg.steps}, mean loss of the last 100 steps {sum(losses[-100:]) / max(1, len(losses[-100:])):.4f}, "
          f"{result['wall_time']:.0f} s of training in total")
    if args.export and result["step"] == cfg.steps:
        src = Path(args.out) / "ema.pt"
        meta = checkpoint.load_meta(src)
        checkpoint.save_checkpoint(args.export, checkpoint.load_checkpoint(src), meta)
        print(f"exported EMA weights to {args.export}")
    return 0


def _load(args):
    from .models import load_model

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, alpha_bar, meta = load_model(args.checkpoint, device)
    return model, alpha_bar, meta, device


def cmd_sample(args):
    from .plotting import save_image_grid
    from .samplers import sample_images

    out = Path(args.out)
    if out.suffix not in (".png", ".pt"):
        raise ValueError(f"--out must end in .png (a grid, plus the tensor as .pt) or .pt (the tensor), got {args.out!r}")
    model, alpha_bar, _, device = _load(args)
    eps_model, what = model, ""
    num_classes = getattr(model.config, "num_classes", 0)
    if args.label is not None or args.guidance:
        if not num_classes:
            raise ValueError(f"{args.checkpoint} is an unconditional model: --label and --guidance need a class-conditional "
                             f"checkpoint (train one with `python -m ddim_ref train --conditional`)")
        if args.label is None:
            raise ValueError("--guidance needs --label: guidance pushes the samples towards one class")
        if not 0 <= args.label < num_classes:
            raise ValueError(f"--label must lie in 0..{num_classes - 1}, got {args.label}")
        from .guidance import classifier_free

        eps_model, what = classifier_free(model, args.label, args.guidance), f", label {args.label}, guidance w={args.guidance:g}"
    c = model.config
    t0 = time.perf_counter()
    x0 = sample_images(eps_model, alpha_bar, args.n, args.S, args.eta, args.spacing, args.seed, args.sigma_hat,
                       args.batch_size, device, clip_x0=args.clip_x0, shape=(c.in_channels, c.image_size, c.image_size))
    if out.suffix == ".png":
        save_image_grid(x0, out)
    checkpoint.atomic_write_bytes(out.with_suffix(".pt"), lambda f: torch.save(x0, f))
    print(f"wrote {args.n} samples (S={args.S}, eta={args.eta}, spacing={args.spacing}{what}) to {out} "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_encode(args):
    from . import data, samplers, schedules
    from .plotting import save_image_grid

    args.eta, args.sigma_hat = 0.0, False
    model, alpha_bar, _, device = _load(args)
    x0 = data.load_mnist("test")[0][args.start:args.start + args.n].to(device)
    if len(x0) == 0:
        raise ValueError(f"--start must lie in 0..9999 (the MNIST test set), got {args.start}")
    tau = schedules.timesteps(len(alpha_bar) - 1, args.S, args.spacing)
    with torch.no_grad():
        x_T = samplers.encode(model, x0, alpha_bar, tau, iters=args.iters, progress=True)
        rec = samplers.sample(model, x_T, alpha_bar, tau, progress=True)
    mse = ((data.to_unit(rec) - data.to_unit(x0)) ** 2).mean().item()
    latents = x_T / x_T.abs().amax(dim=(1, 2, 3), keepdim=True)  # scaled into [-1, 1] for display only
    save_image_grid(torch.cat([x0, latents, rec]).cpu(), args.out, nrow=args.n)
    torch.save({"x0": x0.cpu(), "x_T": x_T.cpu(), "reconstruction": rec.cpu()}, Path(args.out).with_suffix(".pt"))
    print(f"S={args.S}: per-dimension reconstruction MSE on the [0, 1] scale {mse:.2e}; wrote {args.out}")
    return 0


def cmd_evaluate(args):
    from . import metrics, reproduce
    from .samplers import sample_images

    t0 = time.perf_counter()
    if args.real:
        x0 = reproduce.held_out_images(args.n, args.seed)  # never seen by the classifier
        args.S = args.eta = args.spacing = None
        args.sigma_hat = args.clip_x0 = False
    else:
        model, alpha_bar, _, device = _load(args)
        x0 = sample_images(model, alpha_bar, args.n, args.S, args.eta, args.spacing, args.seed, args.sigma_hat,
                           args.batch_size, device, clip_x0=args.clip_x0)
    seconds = time.perf_counter() - t0
    result = reproduce.rounded_scores({k: v for k, v in metrics.scores(x0).items() if not k.endswith("_boot")})
    record = {"S": args.S, "eta": args.eta, "sigma_hat": args.sigma_hat, "spacing": args.spacing, "n": args.n,
              "seed": args.seed, "clip_x0": args.clip_x0, "real": args.real, **result}
    print(json.dumps(record))
    if args.out:
        record.update(checkpoint=None if args.real else Path(args.checkpoint).name, sampling_seconds=round(seconds, 1),
                      provenance=checkpoint.provenance())
        reproduce.upsert_record(args.out, record, key=("S", "eta", "sigma_hat", "spacing", "n", "seed", "clip_x0", "real"))
    return 0


def cmd_reproduce(args):
    from . import reproduce

    if args.experiment == "figures":
        return _reproduce_figures(args)
    if args.experiment == "guidance":
        try:
            ws = [float(v) for v in args.ws.split(",")]
        except ValueError:
            raise ValueError(f"--ws must be comma-separated numbers, got {args.ws!r}") from None
        cells = reproduce.guidance_cells([int(v) for v in args.labels.split(",")], ws, args.S, args.eta, args.spacing,
                                         args.n, args.seed)
        return _run_experiment(args, cells, reproduce.guidance_cell, ["accuracy", "fid", "fid_se", "kid", "spread"])
    S_values = _int_list(args.S, "--S")
    if args.experiment == "ablation":
        return _reproduce_ablation(args, S_values)
    if args.experiment == "exact-table1":
        records = [{**r, "provenance": checkpoint.provenance()} for r in reproduce.exact_table1(S_values)]
        reproduce.save_records(args.out, records)
        for r in records:
            print(json.dumps({k: r[k] for k in ("S", "sampler", "start", "w2", "kl")}))
        print(f"results in {args.out}")
        return 0
    if args.experiment == "table2":
        cells = reproduce.reconstruction_cells(S_values, args.n, args.spacing, args.start, args.iters)
        compute_cell = reproduce.reconstruction_cell
    elif args.experiment == "solvers":
        cells = reproduce.solver_cells(S_values, args.solvers.split(","), args.spacing, args.n, args.seed)
        compute_cell = reproduce.solver_cell
    elif args.experiment == "eps-error":
        cells, compute_cell = reproduce.eps_error_cells(S_values, args.n, args.seed), reproduce.eps_error_cell
    else:
        try:
            variants = ["sigma_hat" if v.strip() in ("sigma-hat", "sigma_hat") else float(v) for v in args.etas.split(",")]
        except ValueError:
            raise ValueError(f"--etas must be comma-separated numbers or 'sigma-hat', got {args.etas!r}") from None
        cells = reproduce.fid_cells(S_values, variants, args.spacings.split(","), args.n, args.seed, args.clip_x0)
        compute_cell = reproduce.fid_cell
    values = {"table2": ["mse", "mse_se", "network_calls"], "eps-error": ["mse", "mse_se", "scale", "scale_se"],
              "solvers": ["nfe", "fid", "fid_se", "kid", "kid_se"]}.get(args.experiment, ["fid", "fid_se", "kid", "kid_se"])
    return _run_experiment(args, cells, compute_cell, values)


def _run_experiment(args, cells, compute_cell, values):
    """Compute the cells that args.out lacks for args.checkpoint (or list them with --dry-run), print every record."""
    from . import reproduce

    fingerprint = reproduce.checkpoint_fingerprint(args.checkpoint)
    if args.dry_run:
        records = reproduce.load_records(args.out)
        for cell in cells:
            stored = reproduce.find_record(records, cell, fingerprint)
            print(json.dumps(cell), "->", "stored" if stored else "to compute")
        return 0
    model, alpha_bar, _, device = _load(args)
    records = reproduce.run_cells(args.out, cells, lambda c: compute_cell(model, alpha_bar, c, args.batch_size, device),
                                  fingerprint)
    for r in records:
        print(json.dumps({k: r[k] for k in list(cells[0]) + values + ["seconds"]}))
    print(f"results in {args.out}")
    return 0


def _reproduce_ablation(args, S_values):
    from . import reproduce

    etas = [float(v) for v in args.etas.split(",")]
    cells = reproduce.fid_cells(S_values, etas, ["uniform"], args.n, args.seed)
    for path in args.checkpoints.split(","):
        args.checkpoint = path
        model, alpha_bar, _, device = _load(args)
        records = reproduce.run_cells(args.out, cells, lambda c: reproduce.fid_cell(model, alpha_bar, c, args.batch_size, device),
                                      reproduce.training_fingerprint(path))
        for r in records:
            print(json.dumps({k: r[k] for k in ("run", "steps", "S", "eta", "n", "fid", "fid_se", "kid", "kid_se", "confident")}))
    print(f"results in {args.out}")
    return 0


def _reproduce_figures(args):
    import matplotlib

    matplotlib.use("Agg")
    from . import reproduce
    from .plotting import make_image_rows_figure

    args.eta, args.sigma_hat = 0.0, False
    model, alpha_bar, _, device = _load(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures = {
        "consistency": (reproduce.consistency_rows(model, alpha_bar, _int_list(args.S, "--S"), seed=args.seed, device=device,
                                                  clip_x0=args.clip_x0),
                        "the same x_T decoded with eta = 0 and S steps (section 5.2)"),
        "interpolation": (reproduce.interpolation_rows(model, alpha_bar, seed=args.seed, device=device, clip_x0=args.clip_x0),
                          "slerp between two x_T, decoded with eta = 0, S = 50 (section 5.3)"),
    }
    for S in _int_list(args.sampler_S, "--sampler-S"):
        figures[f"samplers_S{S}"] = (reproduce.variant_rows(model, alpha_bar, S, seed=args.seed, device=device, clip_x0=args.clip_x0),
                                     f"the same x_T with each sampler of Table 1, S = {S}")
    for name, (rows, title) in figures.items():
        fig = make_image_rows_figure(rows, title=title)
        fig.savefig(out / f"{name}.png", dpi=100)
        print(f"wrote {out / (name + '.png')}")
    return 0


def cmd_train_classifier(args):
    from .classifier import train_classifier

    result = train_classifier(out=args.out, epochs=args.epochs, seed=args.seed)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
