"""The reproduction experiments (notebooks/07): cells, resumable result files, Table 2's encode -> decode, the CLI."""

import json

import pytest
import torch

from ddim_ref import cli, reproduce, schedules


def test_fid_cells_cover_the_grid():
    cells = reproduce.fid_cells([10, 20], [0.0, 0.5, "sigma_hat"], ["uniform", "quadratic"], n=500)
    assert len(cells) == 2 * 3 * 2
    assert len({json.dumps(c, sort_keys=True) for c in cells}) == len(cells)
    hat = [c for c in cells if c["sigma_hat"]]
    assert len(hat) == 4 and all(c["eta"] == 1.0 for c in hat)
    with pytest.raises(ValueError, match="variant"):
        reproduce.fid_cells([10], ["1.0"])
    with pytest.raises(ValueError, match="spacing"):
        reproduce.fid_cells([10], [0.0], ["cubic"])
    with pytest.raises(ValueError, match="above the 128 feature dimensions"):
        reproduce.fid_cells([10], [0.0], n=128)


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
            "--spacings", "uniform", "--n", "130", "--out", str(out)]
    assert cli.main(args) == 0
    first = json.loads(out.read_text())
    assert len(first) == 4 and {r["sigma_hat"] for r in first} == {False, True}
    assert all(r["fid"] > 0 and r["fid_se"] > 0 and r["kid_se"] > 0 and r["n"] == 130 and len(r["fid_boot"]) == 200
               for r in first)
    capsys.readouterr()
    assert cli.main(args + ["--dry-run"]) == 0
    assert capsys.readouterr().out.count("-> stored") == 4
    assert cli.main(args) == 0 and json.loads(out.read_text()) == first  # nothing recomputed
    assert cli.main(args[:7] + ["0,fast"] + args[8:]) == 2  # one-line error


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


def test_exact_table1_command_writes_the_records(tmp_path):
    out = tmp_path / "exact.json"
    assert cli.main(["reproduce", "exact-table1", "--S", "10,1000", "--out", str(out)]) == 0
    records = json.loads(out.read_text())
    assert len(records) == 2 * 5 * 2 and {r["sampler"] for r in records} == {"eta=0", "eta=0.2", "eta=0.5", "eta=1", "sigma-hat"}
    assert {r["start"] for r in records} == {"standard", "exact"} and all(r["w2"] > 0 and r["kl"] > 0 for r in records)
    cell = {(r["S"], r["sampler"], r["start"]): r for r in records}
    # with an exact predictor the paper's trends hold: eta = 0 best and sigma-hat worst at S = 10, more steps help
    assert cell[10, "eta=0", "standard"]["w2"] < cell[10, "eta=1", "standard"]["w2"] < cell[10, "sigma-hat", "standard"]["w2"]
    assert cell[1000, "eta=0", "exact"]["w2"] < cell[10, "eta=0", "exact"]["w2"] / 10
    assert "commit" in records[0]["provenance"]


def test_table2_with_exact_inversion_counts_network_calls():
    alpha_bar = schedules.alpha_bars(schedules.linear_betas(1000))
    cells = reproduce.reconstruction_cells([10], n=4, iters=3)
    assert cells[0]["iters"] == 3
    plain = reproduce.reconstruction_cell(Linear(0.5), alpha_bar, reproduce.reconstruction_cells([10], n=4)[0])
    exact = reproduce.reconstruction_cell(Linear(0.5), alpha_bar, cells[0])
    assert plain["network_calls"] == 20 and exact["network_calls"] == 50
    assert exact["mse"] < plain["mse"] / 100  # the fixed point inverts the decoder
    with pytest.raises(ValueError, match="iters"):
        reproduce.reconstruction_cells([10], iters=-1)


def test_cli_ablation_records_what_each_run_spent(tiny_checkpoint, tmp_path):
    out = tmp_path / "ablation.json"
    args = ["reproduce", "ablation", "--checkpoints", str(tiny_checkpoint), "--S", "2", "--etas", "0,1", "--n", "130",
            "--out", str(out)]
    assert cli.main(args) == 0
    records = json.loads(out.read_text())
    assert len(records) == 2 and {r["eta"] for r in records} == {0.0, 1.0}
    assert all(r["steps"] == 2 and r["images"] == 8 and r["run"] == tiny_checkpoint.parent.name and isinstance(r["train_command"], str)
               and 0 <= r["confident"] <= 1 for r in records)


def test_cli_solvers_counts_network_calls(tiny_checkpoint, tmp_path):
    out = tmp_path / "solvers.json"
    assert cli.main(["reproduce", "solvers", "--checkpoint", str(tiny_checkpoint), "--S", "5", "--n", "130",
                     "--out", str(out)]) == 0
    records = {r["solver"]: r for r in json.loads(out.read_text())}
    assert set(records) == set(reproduce.SOLVERS)
    assert {name: r["nfe"] for name, r in records.items()} == {"ddim": 5, "ddim_eta1": 5, "heun": 5, "dpm_solver_2": 5,
                                                                "dpm_solver_pp_2m": 5}
    assert records["heun"]["S"] == 3 and all(r["fid"] > 0 and len(r["kid_boot"]) == 200 for r in records.values())
    with pytest.raises(ValueError, match="unknown solver"):
        reproduce.solver_cells([5], ["euler"])


def test_cli_guidance_cells_are_per_class_and_paired(tmp_path):
    """A tiny conditional U-Net (2 training steps): cells per (label, w), scored against that class's test images."""
    from ddim_ref.train import TrainConfig, train
    from ddim_ref.unet import UNetConfig

    run = tmp_path / "cond"
    train(TrainConfig(dataset="mnist", steps=2, batch_size=4, warmup_steps=1, p_uncond=0.2),
          UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attn_resolutions=(14,), num_classes=10), run,
          progress=False, sample_every=0)
    out = tmp_path / "guidance.json"
    assert cli.main(["reproduce", "guidance", "--checkpoint", str(run / "ema.pt"), "--labels", "3", "--ws", "0,2",
                     "--S", "2", "--n", "130", "--out", str(out)]) == 0
    records = json.loads(out.read_text())
    assert [(r["label"], r["w"]) for r in records] == [(3, 0.0), (3, 2.0)]
    assert all(0 <= r["accuracy"] <= 1 and r["accuracy"] == r["classes"][3] / 130 and r["spread"] > 0 for r in records)
    for r in records:  # per-sample labels (paired accuracy) agree with the counts that metrics.scores stores
        assert len(r["predicted"]) == 130 and [r["predicted"].count(k) for k in range(10)] == r["classes"]
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        reproduce.guidance_cells([10])


def test_measured_eps_scale_interpolates_and_refuses_bad_records():
    f = reproduce.measured_eps_scale([{"t": 100, "scale": 1.1}, {"t": 1, "scale": 0.9}, {"t": 1000, "scale": 1.0}])
    assert f(1) == pytest.approx(0.9) and f(100) == pytest.approx(1.1) and f(1000) == pytest.approx(1.0)
    assert f(50.5) == pytest.approx(0.9 + 0.2 * 49.5 / 99)  # linear between stored t
    assert f(550) == pytest.approx(1.05)
    with pytest.raises(ValueError, match="two or more distinct t"):
        reproduce.measured_eps_scale([{"t": 1, "scale": 1.0}, {"t": 1, "scale": 1.1}])
