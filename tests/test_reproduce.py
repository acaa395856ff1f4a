"""The reproduction experiments (notebooks/07): cells, resumable result files, Table 2's encode -> decode, the CLI."""

import json

import pytest
import torch

from ddim_ref import cli, reproduce, schedules


def test_fid_cells_cover_the_grid():
    cells = reproduce.fid_cells([10, 20], [0.0, 0.5, "sigma_hat"], ["uniform", "quadratic"], n=100)
    assert len(cells) == 2 * 3 * 2
    assert len({json.dumps(c, sort_keys=True) for c in cells}) == len(cells)
    hat = [c for c in cells if c["sigma_hat"]]
    assert len(hat) == 4 and all(c["eta"] == 1.0 for c in hat)
    with pytest.raises(ValueError, match="variant"):
        reproduce.fid_cells([10], ["1.0"])
    with pytest.raises(ValueError, match="spacing"):
        reproduce.fid_cells([10], [0.0], ["cubic"])


def test_run_cells_skips_stored_cells_and_resumes_after_an_interruption(tmp_path):
    path, calls = tmp_path / "results.json", []
    cells = [{"S": S, "seed": 0} for S in (1, 2, 3, 4)]

    def compute(cell, fail_at=None):
        if cell["S"] == fail_at:
            raise KeyboardInterrupt
        calls.append(cell["S"])
        return {"value": 10 * cell["S"]}

    fingerprint = {"checkpoint": "a.pt", "checkpoint_sha256": "aaa"}
    with pytest.raises(KeyboardInterrupt):
        reproduce.run_cells(path, cells, lambda c: compute(c, fail_at=3), fingerprint, progress=False)
    assert calls == [1, 2] and [r["S"] for r in reproduce.load_records(path)] == [1, 2]  # stored as they finished

    records = reproduce.run_cells(path, cells, compute, fingerprint, progress=False)
    assert calls == [1, 2, 3, 4]  # only the missing cells were computed
    assert [r["value"] for r in records] == [10, 20, 30, 40]
    assert all("provenance" in r and r["seconds"] >= 0 and r["checkpoint_sha256"] == "aaa" for r in records)

    reproduce.run_cells(path, cells, compute, fingerprint, progress=False)
    assert calls == [1, 2, 3, 4]  # a finished table is not recomputed

    reproduce.run_cells(path, cells[:1], compute, {"checkpoint": "a.pt", "checkpoint_sha256": "bbb"}, progress=False)
    assert calls == [1, 2, 3, 4, 1]  # another checkpoint's results do not count
    assert len(reproduce.load_records(path)) == 5


def test_load_records_rejects_a_damaged_file(tmp_path):
    path = tmp_path / "results.json"
    path.write_text('[{"S": 1}')
    with pytest.raises(ValueError, match="not valid JSON"):
        reproduce.load_records(path)


class Linear(torch.nn.Module):
    """eps(x_t, t) = k x_t: smooth in x, so DDIM encode -> decode is exact for k = 0 and first-order accurate otherwise."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x, t):
        return self.k * x


def test_reconstruction_cell_is_exact_for_a_zero_model_and_converges_otherwise():
    alpha_bar = schedules.alpha_bars(schedules.linear_betas(1000))
    exact = reproduce.reconstruction_cell(Linear(0.0), alpha_bar, reproduce.reconstruction_cells([10], n=8)[0])
    assert exact["mse"] < 1e-10  # eps = 0 makes every step a scaling that encode undoes exactly
    mse = {S: reproduce.reconstruction_cell(Linear(0.5), alpha_bar, cell)["mse"]
           for S, cell in zip((10, 100), reproduce.reconstruction_cells([10, 100], n=8))}
    assert mse[10] > 1e-6 and mse[100] < mse[10] / 4  # the O(1/S) error of evaluating eps at the wrong end of a step


def test_paper_numbers_show_the_trends_notebook_07_compares():
    for name, rows in reproduce.PAPER_TABLE1.items():
        assert set(rows) == set(reproduce.VARIANTS) and all(len(v) == len(reproduce.PAPER_TABLE1_S) for v in rows.values())
        at_10 = {v: fids[0] for v, fids in rows.items()}
        assert min(at_10, key=at_10.get) == 0.0 and max(at_10, key=at_10.get) == "sigma_hat", name
    assert list(reproduce.PAPER_TABLE2.values()) == sorted(reproduce.PAPER_TABLE2.values(), reverse=True)


def test_cli_table1_computes_once_then_skips(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "fid.json"
    args = ["reproduce", "table1", "--checkpoint", str(tiny_checkpoint), "--S", "2,3", "--etas", "0,sigma-hat",
            "--spacings", "uniform", "--n", "12", "--out", str(out)]
    assert cli.main(args) == 0
    first = json.loads(out.read_text())
    assert len(first) == 4 and {r["sigma_hat"] for r in first} == {False, True}
    assert all(r["fid"] > 0 and r["fid_se"] > 0 and r["n"] == 12 for r in first)
    capsys.readouterr()
    assert cli.main(args + ["--dry-run"]) == 0
    assert capsys.readouterr().out.count("-> stored") == 4
    assert cli.main(args) == 0 and json.loads(out.read_text()) == first  # nothing recomputed
    with pytest.raises(SystemExit, match="--etas"):
        cli.main(args[:7] + ["0,fast"] + args[8:])


def test_cli_table2_and_figures(tiny_checkpoint, tmp_path):
    out = tmp_path / "rec.json"
    assert cli.main(["reproduce", "table2", "--checkpoint", str(tiny_checkpoint), "--S", "2,4", "--n", "3",
                     "--out", str(out)]) == 0
    records = json.loads(out.read_text())
    assert [r["S"] for r in records] == [2, 4] and all(0 <= r["mse"] < 1 for r in records)
    folder = tmp_path / "figures"
    assert cli.main(["reproduce", "figures", "--checkpoint", str(tiny_checkpoint), "--S", "2,3", "--sampler-S", "2",
                     "--out", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["consistency.png", "interpolation.png", "samplers_S2.png"]
