"""Checkpoints: atomic writes of plain state_dicts with a JSON sidecar, safe loads. Used in notebooks/06.

A checkpoint `name.pt` is a dict of tensors (and nested dicts of tensors) written with torch.save to
a temporary file in the same folder and renamed into place, so an interruption never leaves a
half-written file. `name.json` beside it holds the provenance: config, command, steps, wall time,
hardware, final loss, git commit. Loading uses `torch.load(..., weights_only=True)`.
"""

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import torch


def atomic_write_bytes(path, write):
    """Call write(file_object) on a temporary file next to `path`, then rename it onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path, state, meta=None):
    """Atomically write `state` (tensors, nested dicts/lists of tensors and numbers) and a JSON sidecar `meta`."""
    atomic_write_bytes(path, lambda f: torch.save(state, f))
    if meta is not None:
        text = json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n"
        atomic_write_bytes(sidecar_path(path), lambda f: f.write(text.encode()))


def load_checkpoint(path, map_location="cpu"):
    """Load a checkpoint written by `save_checkpoint` with weights_only=True; clear errors if missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, wrong format, pickled code objects, ...
        raise ValueError(f"checkpoint {path} is corrupted, truncated or not a weights-only file ({type(e).__name__}: {e})") from e


def load_meta(path):
    """The JSON sidecar of checkpoint `path` as a dict ({} if there is none)."""
    side = sidecar_path(path)
    return json.loads(side.read_text()) if side.is_file() else {}


def sidecar_path(path):
    """`name.pt` -> `name.json`."""
    return Path(path).with_suffix(".json")


def check_config(saved, expected, what="checkpoint"):
    """Raise a ValueError listing the differences if a saved config dict differs from the expected one."""
    saved, expected = (_flatten(json.loads(json.dumps(c, default=str))) for c in (saved, expected))  # tuples -> lists
    diffs = {k: (saved.get(k), expected.get(k)) for k in sorted(set(saved) | set(expected)) if saved.get(k) != expected.get(k)}
    if diffs:
        lines = ", ".join(f"{k}: saved {a!r} vs expected {b!r}" for k, (a, b) in diffs.items())
        raise ValueError(f"{what} was made with another configuration ({lines})")


def _program():
    """How this process was started, as a person would type it."""
    name = Path(sys.argv[0]).name
    if name == "__main__.py":  # python -m ddim_ref
        return "python -m " + Path(sys.argv[0]).parent.name
    return name


def _flatten(d, prefix=""):
    """{"model": {"hidden": 64}} -> {"model.hidden": 64}, so that differences name the exact key."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def provenance():
    """Hardware, software and git commit, for the sidecar."""
    info = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "command": " ".join([_program()] + sys.argv[1:]),
    }
    try:
        root = Path(__file__).resolve().parent.parent
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        # stored results (data/results) change as records are written: they do not make the code dirty
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)data/results"],
                               cwd=root, capture_output=True, text=True, timeout=5)
        info["commit"] = commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "") if commit.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        info["commit"] = None
    return info
