"""The notebook API: read_study and read_surface against the HDF5 files read
with h5py, the plot functions drawing on a given axis and returning its
figure, and an import that leaves matplotlib's backend alone."""
import os
import subprocess
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import cellscape_plots  # noqa: E402
from test_plots import BY_WIDTH, METRIC_NAMES, write_study, write_surface  # noqa: E402


def columns_of(path, group):
    with h5py.File(path) as f:
        return {name: (f[group][name].asstr()[()] if h5py.check_string_dtype(f[group][name].dtype)
                       else f[group][name][()]) for name in f[group]}


def test_read_study_gives_tidy_frames_equal_to_the_summary(tmp_path):
    write_study(tmp_path)
    tables = cellscape_plots.read_study(tmp_path)
    replicates = columns_of(tmp_path / "summary.h5", "replicates")
    assert isinstance(tables.replicates, pd.DataFrame) and len(tables.replicates) == len(replicates["cell"])
    for name, values in replicates.items():
        np.testing.assert_array_equal(tables.replicates[name].to_numpy(), values, err_msg=name)
    # cells in long form: a row per (cell, epoch, metric) holding that metric's four statistics.
    cells = columns_of(tmp_path / "summary.h5", "cells")
    assert len(tables.cells) == len(cells["cell"]) * len(METRIC_NAMES)
    assert set(tables.cells["metric"]) == set(METRIC_NAMES)
    for metric in METRIC_NAMES:
        rows = tables.cells[tables.cells["metric"] == metric]
        np.testing.assert_array_equal(rows["cell"].to_numpy(), cells["cell"])
        np.testing.assert_array_equal(rows["epoch"].to_numpy(), cells["epoch"])
        for part in ("mean", "std", "ci_low", "ci_high"):
            np.testing.assert_array_equal(rows[part].to_numpy(), cells[f"{metric}_{part}"], err_msg=(metric, part))
    associations = columns_of(tmp_path / "summary.h5", "associations")
    for name, values in associations.items():
        np.testing.assert_array_equal(tables.associations[name].to_numpy(), values, err_msg=name)
    assert tables.mediation.empty and tables.metric_associations.empty  # a version 2 summary has neither
    assert tables.attributes["loss_threshold"] == 0.8
    # Tidy: the usual pandas idioms work on it directly.
    means = tables.cells.query("metric == 'train_loss' and epoch == 3").set_index("cell")["mean"]
    assert list(means.sort_values().index) == BY_WIDTH


def test_read_surface_gives_an_xarray_dataset_on_the_files_grid(tmp_path):
    write_surface(tmp_path / "s.h5")
    dataset = cellscape_plots.read_surface(tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5") as f:
        np.testing.assert_array_equal(dataset["x"].values, f["xcoordinates"][()])
        np.testing.assert_array_equal(dataset["y"].values, f["ycoordinates"][()])
        for name in ("train_loss", "test_loss", "train_acc", "test_acc", "gradient_variance"):
            assert dataset[name].dims == ("y", "x")
            np.testing.assert_array_equal(dataset[name].values, f[name][()])
    assert dataset["completed"].dtype == bool and dataset.attrs["evaluations"] == "train,test"
    # Selection by coordinate, as xarray users expect: the loss at the origin.
    assert float(dataset["test_loss"].sel(x=0.0, y=-1 / 3, method="nearest")) == pytest.approx(0.3 + 1 / 9)
    write_surface(tmp_path / "line.h5", two_d=False, gradient_variance=False)
    line = cellscape_plots.read_surface(tmp_path / "line.h5")
    assert line["test_loss"].dims == ("x",) and "y" not in line.coords


def test_the_plot_functions_draw_on_the_axis_given_and_return_its_figure(tmp_path):
    write_study(tmp_path / "study")
    write_surface(tmp_path / "s.h5")
    fig, axes = plt.subplots(2, 3)
    drawn = [cellscape_plots.plot_metric(tmp_path / "study", "train_loss", ax=axes[0][0]),
             cellscape_plots.plot_top_eigenvalues(tmp_path / "study", ax=axes[0][1]),
             cellscape_plots.plot_loss_curves(tmp_path / "study", "test", ax=axes[0][2]),
             cellscape_plots.plot_surface(tmp_path / "s.h5", ax=axes[1][0]),
             cellscape_plots.plot_surface(cellscape_plots.read_surface(tmp_path / "s.h5"), "gradient_variance",
                                          ax=axes[1][1])]
    assert all(figure is fig for figure in drawn)
    assert axes[0][0].get_ylabel() == "training loss" and axes[0][2].get_ylabel() == "test loss"
    assert axes[1][0].get_title() == "train_loss" and axes[1][1].get_title() == "gradient_variance"
    # Without an axis, a new figure of its own.
    alone = cellscape_plots.plot_metric(cellscape_plots.Study(tmp_path / "study"), "trace")
    assert alone is not fig and len(alone.axes) == 1
    with pytest.raises(cellscape_plots.PlotInputError, match="no mediation rows"):
        cellscape_plots.plot_mediation(tmp_path / "study")  # a version 2 summary has no mediation table
    plt.close("all")


def test_importing_the_package_leaves_matplotlibs_backend_alone():
    code = "import matplotlib; import cellscape_plots; print(matplotlib.get_backend())"
    environment = dict(os.environ, MPLBACKEND="svg")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "svg"


def load_findings_tables():
    """scripts/findings_tables.py, which docs/findings.md cites, as a module."""
    import importlib.util
    path = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "findings_tables.py")
    spec = importlib.util.spec_from_file_location("findings_tables", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_findings_tables_average_cell_means_per_width_and_measure_seed_spread(tmp_path, capsys):
    write_study(tmp_path)
    findings = load_findings_tables()
    assert findings.main([str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    # The width groups of the last epoch, each the mean of its cells' means, from the summary read with h5py.
    cells = columns_of(tmp_path / "summary.h5", "cells")
    last = cells["epoch"] == max(cells["epoch"])
    line = next(l for l in printed.splitlines() if l.startswith("train_loss "))
    shown = [float(v) for v in line.split()[1:]]
    widths = sorted(set(cells["normal_width"][last]))
    expected = [np.mean(cells["train_loss_mean"][last & (cells["normal_width"] == w)]) for w in widths]
    np.testing.assert_allclose(shown, expected, rtol=1e-3)  # printed to 4 significant digits
    # A replicate's value is its cell's mean plus its seed (1, 2, 3): a cell's max/min over seeds is
    # (m + 3) / (m + 1) for the seeds that finished; the printed median is over cells with 2 or more.
    replicates = columns_of(tmp_path / "summary.h5", "replicates")
    ok = (replicates["status"] == "ok") & (replicates["epoch"] == max(cells["epoch"]))
    ratios = []
    for cell in sorted(set(replicates["cell"][ok])):
        values = replicates["top_eigenvalue"][ok & (replicates["cell"] == cell)]
        if len(values) >= 2:  # a cell with one finished seed has no spread (WIDE here)
            ratios.append(values.max() / values.min())
    assert len(ratios) == 3
    section = printed[printed.index("spread over seeds"):].splitlines()
    spread = next(l for l in section if l.split()[:1] == ["top_eigenvalue"])
    assert float(spread.split()[2]) == pytest.approx(np.median(ratios), abs=0.005)  # printed as 1.15: 3 digits


def test_findings_tables_select_the_proxies_rows_of_the_analysis_epoch():
    from cellscape_plots.tables import StudyTables
    findings = load_findings_tables()
    associations = pd.DataFrame({
        "epoch": [4, 4, 2, 4], "population": ["p"] * 4, "metric": ["snip", "top_eigenvalue", "snip", "zico"],
        "predictor": ["normal_width"] * 4, "controlling": ["", "", "", "normal_depth"],
        "spearman_rho": [0.5, -0.2, 0.1, 0.3], "ci_low": [0.1, -0.6, -0.3, -0.1], "ci_high": [0.8, 0.2, 0.5, 0.6],
        "p_value": [0.01, 0.4, 0.7, 0.2], "p_holm": [0.02, 0.8, 0.7, 0.2], "n_cells": [24] * 4})
    pairs = pd.DataFrame({
        "epoch": [4, 4, 4], "population": ["p"] * 3, "metric": ["epochs_to_threshold", "top_eigenvalue", "grasp"],
        "other_metric": ["snip", "trace", "synflow"], "spearman_rho": [-0.4, 0.9, 0.1], "ci_low": [-0.7, 0.8, -0.3],
        "ci_high": [-0.1, 1.0, 0.5], "p_value": [0.02, 0.001, 0.6], "p_holm": [0.04, 0.01, 0.6],
        "n_cells": [24] * 3})
    tables = StudyTables(replicates=pd.DataFrame(), cells=pd.DataFrame(), associations=associations,
                         metric_associations=pairs, mediation=pd.DataFrame())
    against_cells, against_metrics = findings.proxy_rows(tables, 4)
    assert list(against_cells["metric"]) == ["snip", "zico"]
    assert list(against_cells["controlling"]) == ["", "normal_depth"]
    # A pair with a proxy on either side; the pair of two trained metrics is not the proxies'.
    assert list(zip(against_metrics["metric"], against_metrics["other_metric"])) == [
        ("epochs_to_threshold", "snip"), ("grasp", "synflow")]
