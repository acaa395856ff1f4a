"""The command line: --help for every command, sample/encode/evaluate on a tiny checkpoint (notebooks/04-06)."""

import json
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
    args = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--S", "2", "--n", "20", "--out", str(out)]
    assert cli.main(args) == 0 and cli.main(args) == 0  # the same settings replace the earlier record
    assert cli.main(args[:3] + ["--S", "3"] + args[5:]) == 0
    records = json.loads(out.read_text())
    assert [r["S"] for r in records] == [2, 3]
    assert records[0]["fid"] > 0 and "commit" in records[0]["provenance"]


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        checkpoint.load_checkpoint(tmp_path / "nope.pt")


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "ddim_ref", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and "sample" in proc.stdout
