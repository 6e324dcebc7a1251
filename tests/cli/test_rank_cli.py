"""`cellscape rank` (docs/rank.md) on a synthetic benchmark of 1,200 DARTS-space
genotypes whose accuracy depends on known features plus noise
(data/benchmarks/make_synthetic_benchmark.py): every statistic of the table
against scipy and numpy computed here, the planted confound recovered, the
structure against the generator's own width and depth and against the PyTorch
twin's parameter and FLOP counts, bad rows, resuming after kill -9, the figure.
"""
import importlib.util
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import torch
from scipy import stats
from torch.utils.flop_counter import FlopCounterMode

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "peers"))
import darts_torch  # noqa: E402

GENERATOR = ROOT / "data" / "benchmarks" / "make_synthetic_benchmark.py"
TRUTH = json.loads((ROOT / "data" / "benchmarks" / "synthetic_truth.json").read_text())


def load_generator():
    spec = importlib.util.spec_from_file_location("make_synthetic_benchmark", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def benchmark(cellscape, tmp_path_factory):
    """The generator's table (seed 0, 1,200 cells) ranked with the default statistics."""
    directory = tmp_path_factory.mktemp("rank")
    table = directory / "bench.csv"
    subprocess.run([sys.executable, str(GENERATOR), str(table)], check=True)
    out = directory / "rank.h5"
    result = cellscape("rank", str(table), "--value", "valid_acc", "--out", str(out), "--json")
    with h5py.File(out, "r") as f:
        cells = {name: f["cells"][name][()] for name in f["cells"]}
        associations = {name: f["associations"][name][()] for name in f["associations"]}
    for table_ in (cells, associations):
        for name, column in table_.items():
            if column.dtype.kind == "O":
                table_[name] = np.array([v.decode() for v in column])
    return {"table": table, "out": out, "json": json.loads(result.stdout), "cells": cells,
            "associations": associations}


def association(benchmark, metric):
    rows = benchmark["associations"]
    index = list(rows["metric"]).index(metric)
    return {name: column[index] for name, column in rows.items()}


def test_structure_matches_the_generators_own_count(benchmark):
    # The generator computes width and depth itself (none edges carry nothing): an independent count.
    generator = load_generator()
    import csv
    with open(benchmark["table"]) as f:
        rows = list(csv.DictReader(f))
    assert len(benchmark["cells"]["name"]) == len(rows) == 1200
    for i in range(0, 1200, 7):
        genotype = darts_torch.parse_genotype(rows[i]["genotype"])
        width, depth = generator.width_depth(list(genotype["normal"]))
        assert benchmark["cells"]["normal_width"][i] == width
        assert benchmark["cells"]["normal_depth"][i] == depth
        assert benchmark["cells"]["normal_parameterized_edges"][i] == generator.parameterized(genotype["normal"])


def test_rho_tau_and_holm_match_scipy(benchmark):
    cells, rows = benchmark["cells"], benchmark["associations"]
    value = cells["valid_acc"]
    for i, metric in enumerate(rows["metric"]):
        x = cells[metric]
        # Ranks and correlations of the same numbers: equal to rounding over 1,200 cells.
        assert rows["rho"][i] == pytest.approx(stats.spearmanr(x, value)[0], abs=1e-12), metric
        assert rows["kendall_tau"][i] == pytest.approx(stats.kendalltau(x, value)[0], abs=1e-12), metric
    # Holm's step-down, written out here: sorted p, (m - j) p_(j), running maximum, capped at 1.
    p = rows["p_value"]
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1, np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order]))
    expected = np.empty_like(adjusted)
    expected[order] = adjusted
    np.testing.assert_allclose(rows["p_holm"], expected, rtol=0, atol=1e-15)


def test_interval_and_p_value_match_numpy_and_scipy_within_monte_carlo_error(benchmark):
    cells = benchmark["cells"]
    rng = np.random.default_rng(1)
    for metric in ("normal_width", "reduce_width"):
        row = association(benchmark, metric)
        x, y = cells[metric], cells["valid_acc"]
        draws = rng.integers(0, len(x), size=(2000, len(x)))
        rhos = np.array([stats.spearmanr(x[d], y[d])[0] for d in draws])
        low, high = np.percentile(rhos, [2.5, 97.5])
        # Two percentile bootstraps of 2,000 resamples each: an endpoint's Monte Carlo standard error is about
        # 0.004 here (rho's bootstrap sd 0.028, 2.5% tail); 0.02 is 5 standard errors of the difference.
        assert row["ci_low"] == pytest.approx(low, abs=0.02), metric
        assert row["ci_high"] == pytest.approx(high, abs=0.02), metric
        # 5,000 permutations against scipy's t approximation (exact enough at n = 1,200): the Monte Carlo
        # standard error of p is at most 0.007; 0.035 is 5 of them.
        assert row["p_value"] == pytest.approx(max(stats.spearmanr(x, y)[1], 1 / 5001), abs=0.035), metric


def content_columns(cells):
    names = ["normal_parameterized_edges", "reduce_parameterized_edges"] + sorted(
        name for name in cells if name.startswith("operations_"))
    columns = np.column_stack([cells[name] for name in names]).astype(float)
    return columns[:, columns.std(axis=0) > 0]


def test_partial_rho_is_the_residual_correlation_and_removes_the_planted_confound(benchmark):
    generator = load_generator()
    cells = benchmark["cells"]
    content = content_columns(cells)
    for metric in ("normal_width", "normal_depth", "reduce_width"):
        row = association(benchmark, metric)
        expected = generator.partial_rho(cells[metric], cells["valid_acc"], content)
        # numpy's least squares and cellscape's pivoted QR on the same ranks: rounding only.
        assert row["partial_rho"] == pytest.approx(expected, abs=1e-10), metric
    # The plant: accuracy follows the parameterized edges alone; width is confounded with them.
    width = association(benchmark, "normal_width")
    assert width["ci_low"] > 0.15  # raw rho: population 0.30
    assert width["ci_low"] <= TRUTH["rho_normal_width"] <= width["ci_high"]
    assert width["p_holm"] < 0.01
    assert width["partial_ci_low"] <= TRUTH["partial_rho_normal_width"] <= width["partial_ci_high"]
    assert width["partial_ci_low"] < 0 < width["partial_ci_high"]
    edges = association(benchmark, "normal_parameterized_edges")
    assert edges["ci_low"] <= TRUTH["rho_normal_parameterized_edges"] <= edges["ci_high"]
    assert np.isnan(edges["partial_rho"])  # a control itself: nothing left to correlate


def test_top_overlap_by_hand(benchmark):
    cells = benchmark["cells"]
    row = association(benchmark, "multiply_adds")
    k = round(0.1 * 1200)
    best = set(np.argsort(-cells["valid_acc"], kind="stable")[:k])
    ordered = np.sort(cells["multiply_adds"])[::-1]
    cut = ordered[k - 1]
    above = cells["multiply_adds"] > cut
    tied = cells["multiply_adds"] == cut
    share = np.where(above, 1.0, np.where(tied, (k - above.sum()) / tied.sum(), 0.0))
    assert row["top_overlap"] == pytest.approx(sum(share[i] for i in best) / k, abs=1e-12)
    assert row["top_chance"] == pytest.approx(k / 1200)


GENOTYPES = [
    "Genotype(normal=[('avg_pool_3x3', 0), ('sep_conv_5x5', 1), ('dil_conv_5x5', 0), ('conv_7x1_1x7', 2), "
    "('sep_conv_7x7', 1), ('none', 3), ('skip_connect', 0), ('max_pool_3x3', 4)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('skip_connect', 0), ('avg_pool_3x3', 1), ('conv_7x1_1x7', 0), ('sep_conv_5x5', 2), "
    "('dil_conv_5x5', 1), ('none', 0), ('sep_conv_7x7', 3), ('max_pool_3x3', 2)], reduce_concat=[2, 3, 4, 5])",
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
]


@pytest.mark.parametrize("shape,channels,layers", [("3x32x32", 16, 8), ("1x28x28", 6, 5)])
def test_parameters_and_multiply_adds_match_the_pytorch_twin(cellscape, tmp_path, shape, channels, layers):
    table = tmp_path / "cells.jsonl"
    table.write_text("".join(json.dumps({"genotype": g, "acc": i}) + "\n" for i, g in enumerate(GENOTYPES)))
    result = json.loads(cellscape("rank", str(table), "--init-channels", str(channels), "--layers", str(layers),
                                  "--input-shape", shape, "--bootstrap", "100", "--permutations", "100",
                                  "--json").stdout)
    input_shape = [int(s) for s in shape.split("x")]
    for row, text in zip(result["cell_table"], GENOTYPES):
        net = darts_torch.DartsNetwork(darts_torch.parse_genotype(text), channels, layers, 10, input_shape).eval()
        assert row["parameters"] == sum(p.numel() for p in net.parameters())
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            net(torch.zeros([1] + input_shape))
        # PyTorch counts 2 FLOPs per multiply-add of convolutions and matrix products, exactly.
        assert 2 * row["multiply_adds"] == counter.get_total_flops()


def test_cell_reports_both_readings_of_a_cell_with_none_edges(cellscape):
    # Node 3's edges are both none: it is dead, and the path 0 -> 2 -> 3 -> 4 -> out no longer exists.
    genotype = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('none', 2), ('none', 0), "
                "('sep_conv_3x3', 3), ('sep_conv_3x3', 1)], normal_concat=[4], reduce=[('max_pool_3x3', 0), "
                "('max_pool_3x3', 1)], reduce_concat=[2])")
    normal = json.loads(cellscape("cell", genotype, "--json").stdout)["normal"]
    assert (normal["width"], normal["depth"]) == (1.5, 2)  # n2 1c, n4 .5c; live path 1 -> 4 -> out
    assert (normal["width_counting_none"], normal["depth_counting_none"]) == (2.0, 4)
    assert normal["none_edges"] == 2
    assert "2 none edges carry nothing; counting them as connections: width 2c, depth 4" in cellscape(
        "cell", genotype).stdout


def test_bad_rows_are_named_and_stop_the_run_unless_skipped(cellscape, tmp_path):
    table = tmp_path / "cells.csv"
    good = GENOTYPES[1].replace('"', '""')
    table.write_text(f'genotype,acc\n"{good}",0.9\n"Genotype(normal=[(\'conv_9x9\', 0)])",0.8\n'
                     f'"{GENOTYPES[0]}",oops\n"{GENOTYPES[0]}",0.7\n')
    out = tmp_path / "rank.h5"
    failed = cellscape("rank", str(table), "--out", str(out), check=False)
    assert failed.returncode == 1
    assert "--skip-bad" in failed.stderr and "line 3: genotype" in failed.stderr and "conv_9x9" in failed.stderr
    assert "line 4: acc is 'oops', not a finite number" in failed.stderr
    assert not out.exists()
    cellscape("rank", str(table), "--out", str(out), "--skip-bad", "--bootstrap", "100", "--permutations", "100")
    with h5py.File(out, "r") as f:
        assert list(f["bad_rows"]["line"][()]) == [3, 4]
        assert f["cells"]["name"].shape == (2,)


def test_a_missing_column_and_proxies_without_data_are_refused(cellscape, tmp_path):
    table = tmp_path / "cells.jsonl"
    table.write_text(json.dumps({"genotype": GENOTYPES[1], "acc": 1}) + "\n")
    missing = cellscape("rank", str(table), "--value", "valid_acc", check=False)
    assert missing.returncode == 1 and "--value: 'valid_acc' is not a column" in missing.stderr
    assert "'acc'" in missing.stderr
    no_proxies = cellscape("rank", str(table), "--seeds", "1,2", check=False)
    assert no_proxies.returncode != 0 and "--seeds requires --proxies" in no_proxies.stderr
    no_data = cellscape("rank", str(table), "--proxies", "snip", "--out", str(tmp_path / "r.h5"), check=False)
    assert no_data.returncode == 1 and "--dataset" in no_data.stderr and "only synflow is data-free" in no_data.stderr


def test_proxies_resume_after_kill_and_equal_an_uninterrupted_run(cellscape, tmp_path):
    generator = load_generator()
    rows = generator.draw_table(np.random.default_rng(5), 24)
    table = tmp_path / "cells.jsonl"
    table.write_text("".join(json.dumps({"genotype": r["genotype"], "acc": r["valid_acc"]}) + "\n" for r in rows))
    args = ["rank", str(table), "--proxies", "synflow", "--seeds", "1,2", "--init-channels", "8", "--layers", "5",
            "--threads", "1", "--bootstrap", "100", "--permutations", "100"]
    killed = tmp_path / "killed.h5"
    process = subprocess.Popen([os.environ["CELLSCAPE"], *args, "--out", str(killed)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    rows_file = pathlib.Path(str(killed) + ".rows.jsonl")
    deadline = time.time() + 60
    while time.time() < deadline and (not rows_file.exists() or len(rows_file.read_text().splitlines()) < 5):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = len(rows_file.read_text().splitlines())
    assert 5 <= kept < 48 and not killed.exists()
    resumed = cellscape(*args, "--out", str(killed))
    assert f"{kept} cell-seeds reused" in resumed.stderr or f"{kept - 1} cell-seeds reused" in resumed.stderr
    whole = tmp_path / "whole.h5"
    cellscape(*args, "--out", str(whole))
    with h5py.File(killed, "r") as a, h5py.File(whole, "r") as b:
        # The same networks from the same seeds: synflow is float64 and deterministic on one thread.
        np.testing.assert_array_equal(a["proxy_seeds"]["synflow"][()], b["proxy_seeds"]["synflow"][()])
        scores = a["proxy_seeds"]["synflow"][()].reshape(24, 2)
        assert np.isfinite(scores).all()
        # Each cell's interval over its 2 seeds: scipy's Student-t interval of the mean (1 degree of freedom).
        low, high = stats.t.interval(0.95, 1, loc=scores.mean(axis=1), scale=stats.sem(scores, axis=1))
        np.testing.assert_allclose(a["cells"]["synflow"][()], scores.mean(axis=1), rtol=1e-14)
        np.testing.assert_allclose(a["cells"]["synflow_ci_low"][()], low, rtol=1e-9)
        np.testing.assert_allclose(a["cells"]["synflow_ci_high"][()], high, rtol=1e-9)


def test_read_rank_and_the_figures(benchmark, tmp_path):
    from cellscape_plots import read_rank
    rank = read_rank(benchmark["out"])
    assert len(rank.cells) == 1200 and {"rho", "partial_rho", "top_overlap"} <= set(rank.associations.columns)
    assert set(rank.groups["grouping"]) == {"normal_width", "normal_depth", "reduce_width", "reduce_depth"}
    result = subprocess.run([os.environ.get("CELLSCAPE_PYTHON", sys.executable), "-m", "cellscape_plots", "rank",
                             str(benchmark["out"]), "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for name in ("rank_groups_valid_acc.png", "rank_rho_valid_acc.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_the_readme_shows_what_the_command_prints(cellscape, benchmark, tmp_path):
    # The README's example, run as it is written (from the table's directory, so the path prints as bench.csv).
    readme = (ROOT / "README.md").read_text()
    start = readme.index("$ build/tools/cellscape rank bench.csv --value valid_acc")
    shown = [line.strip() for line in readme[start:readme.index("```", start)].splitlines()[1:]]
    shown = [line for line in shown if line and line != "..."]
    (tmp_path / "bench.csv").write_bytes(benchmark["table"].read_bytes())
    result = subprocess.run([os.environ["CELLSCAPE"], "rank", "bench.csv", "--value", "valid_acc"], cwd=tmp_path,
                            capture_output=True, text=True, check=True)
    printed = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    assert shown == printed[:len(shown)]


def test_proxies_score_the_network_train_starts_from(cellscape, tmp_path):
    # `cellscape proxies --initial` rebuilds a run's initial network from its checkpoint: rank's network from
    # the same seed must be that network, so synflow (float64, one deterministic pass) agrees to rounding.
    run = tmp_path / "run"
    cellscape("train", "--cell", "DARTS_V2", "--dataset", "fashion-mnist", "--train-size", "64", "--test-size", "32",
              "--batch-size", "32", "--init-channels", "4", "--layers", "3", "--epochs", "1", "--threads", "1",
              "--seed", "7", "--out", str(run))
    reference = json.loads(cellscape("proxies", "--checkpoint", str(run / "epoch-0001.h5"), "--initial",
                                     "--proxies", "synflow", "--threads", "1").stdout)["synflow"]
    genotype = json.loads(cellscape("cell", "DARTS_V2", "--json").stdout)["genotype"]
    table = tmp_path / "cells.jsonl"
    table.write_text(json.dumps({"genotype": genotype, "acc": 1}) + "\n")
    out = tmp_path / "rank.h5"
    cellscape("rank", str(table), "--proxies", "synflow", "--seeds", "7", "--init-channels", "4", "--layers", "3",
              "--input-shape", "1x28x28", "--threads", "1", "--bootstrap", "100", "--permutations", "100",
              "--out", str(out))
    with h5py.File(out, "r") as f:
        assert f["proxy_seeds"]["synflow"][0] == pytest.approx(reference, rel=1e-12)
