"""The command line: --help for every command, sample/encode/evaluate on a tiny checkpoint (notebooks/04-06)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ddim_ref import checkpoint, cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("command", ["train", "sample", "encode", "evaluate", "reproduce", "train-classifier"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([command, "--help"])
    assert e.value.code == 0 and "usage:" in capsys.readouterr().out


def test_sample_writes_a_png_grid(tiny_checkpoint, tmp_path):
    png = tmp_path / "grid.png"
    assert cli.main(["sample", "--checkpoint", str(tiny_checkpoint), "--S", "3", "--n", "6", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    x = torch.load(png.with_suffix(".pt"), weights_only=True)
    assert x.shape == (6, 1, 28, 28) and torch.isfinite(x).all()


def test_encode_reports_reconstruction(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "enc.png"
    assert cli.main(["encode", "--checkpoint", str(tiny_checkpoint), "--S", "4", "--n", "3", "--out", str(out)]) == 0
    assert "reconstruction MSE" in capsys.readouterr().out and out.is_file()
    saved = torch.load(out.with_suffix(".pt"), weights_only=True)
    assert saved["x_T"].shape == saved["x0"].shape == (3, 1, 28, 28)


def test_evaluate_appends_records_with_provenance(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "fid.json"
    args = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--S", "2", "--n", "130", "--out", str(out)]
    assert cli.main(args) == 0 and cli.main(args) == 0  # the same settings replace the earlier record
    assert cli.main(args[:3] + ["--S", "3"] + args[5:]) == 0
    records = json.loads(out.read_text())
    assert [r["S"] for r in records] == [2, 3]
    assert records[0]["fid"] > 0 and records[0]["kid_se"] > 0 and "commit" in records[0]["provenance"]


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        checkpoint.load_checkpoint(tmp_path / "nope.pt")


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "ddim_ref", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and "sample" in proc.stdout


def test_sample_to_pt_and_guidance_needs_a_conditional_model(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "x.pt"
    assert cli.main(["sample", "--checkpoint", str(tiny_checkpoint), "--S", "2", "--n", "3", "--out", str(out)]) == 0
    x = torch.load(out, weights_only=True)
    assert x.shape == (3, 1, 28, 28) and x.dtype == torch.float32
    assert cli.main(["sample", "--checkpoint", str(tiny_checkpoint), "--label", "3", "--out", str(out)]) == 2
    assert "unconditional model" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["sample", "--n", "0"], "argument --n: must be an integer >= 1, got 0"),
    (["sample", "--S", "-3"], "argument --S: must be an integer >= 1, got -3"),
    (["sample", "--eta", "-0.5"], "argument --eta: must lie in [0, inf), got -0.5"),
    (["sample", "--eta", "fast"], "argument --eta: expected a number"),
    (["evaluate", "--n", "100"], "argument --n: must be an integer >= 129, got 100"),
    (["sample", "--spacing", "cubic"], "argument --spacing: invalid choice"),
    (["sample", "--checkpoint", "nope.pt"], "checkpoint nope.pt not found"),
    (["sample", "--S", "2000"], "S must be an integer with 1 <= S <= T = 1000"),
    (["sample", "--out", "x.jpg", "--S", "1", "--n", "1"], "--out must end in .png"),
    (["encode", "--start", "20000", "--S", "1"], "--start must lie in 0..9999"),
    (["reproduce", "table1", "--S", "10,x", "--dry-run"], "--S must be comma-separated integers"),
    (["train", "--steps", "0"], "argument --steps: must be an integer >= 1, got 0"),
    (["nonsense"], "invalid choice"),
])
def test_bad_input_is_one_line_and_status_2(args, message, capsys, monkeypatch):
    """Every bad argument or missing file: one line `error: ...` on stderr, exit status 2, no traceback."""
    monkeypatch.delenv("DDIM_DEBUG", raising=False)
    try:
        rc = cli.main(args)
    except SystemExit as e:  # argparse's own errors exit
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


def test_errors_in_a_real_process_and_the_debug_flag(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DDIM_DEBUG"}
    args = [sys.executable, "-m", "ddim_ref", "sample", "--checkpoint", str(tmp_path / "nope.pt")]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)
    assert proc.returncode == 2 and proc.stderr.startswith("error: checkpoint") and "Traceback" not in proc.stderr
    proc = subprocess.run(args[:3] + ["--debug"] + args[3:], capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "not found" in proc.stderr
