"""The plotting package on small files written here with the documented
names (docs/hdf5-schema.md): every figure is produced, and a file that lacks
a name gets one clear error line, not a traceback."""
import subprocess
import sys

import h5py
import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import stats

from cellscape_plots import PlotInputError, figures
from cellscape_plots.__main__ import main
from cellscape_plots.figures import (gradvar_figures, hessian_figures, study_figures, surface_figures,
                                     train_figures)


def _finite(values):
    return np.isfinite(np.asarray(values, float)).any()


def _has_data(axis):
    """Whether the axis shows something: a finite line, bar, point or polygon, an
    image, or nothing on purpose (an axis turned off: a titled blank)."""
    if not axis.axison or axis.images:
        return True
    if any(_finite(line.get_ydata()) for line in axis.get_lines()):
        return True
    if any(_finite(patch.get_height()) for patch in axis.patches if hasattr(patch, "get_height")):
        return True
    for collection in axis.collections:
        if type(collection).__name__ == "PathCollection":
            if _finite(collection.get_offsets()):
                return True
        elif any(len(path.vertices) and _finite(path.vertices) for path in collection.get_paths()):
            return True
    return False


class Drawn(dict):
    """Panels by figure name; `figure`: the figure-level texts by name."""

    def __init__(self):
        super().__init__()
        self.figure = {}


@pytest.fixture
def drawn(monkeypatch):
    """Every figure saved during a test, by file name: its axes (titles, labels,
    lines' data, scatter points, bars, shaded bands, error bars, images, contour
    sets, tick labels), read off the matplotlib objects just before they are
    written and closed; and in `drawn.figure[name]` its legends and suptitle."""
    figures_by_name = Drawn()
    save = figures._save

    def capture(fig, out_dir, name, tight=True):
        panels = []
        for axis in fig.axes:
            if axis.get_label() == "<colorbar>":
                continue
            panels.append({
                "title": axis.get_title(), "xlabel": axis.get_xlabel(), "ylabel": axis.get_ylabel(),
                "lines": [(np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float),
                           line.get_label()) for line in axis.get_lines()],
                "points": [np.asarray(c.get_offsets()) for c in axis.collections
                           if type(c).__name__ == "PathCollection"],
                "bars": [patch.get_height() for patch in axis.patches],
                "bands": [np.concatenate([p.vertices for p in c.get_paths()]) for c in axis.collections
                          if "FillBetween" in type(c).__name__],
                "errorbars": [np.asarray(container.lines[2][0].get_segments()) for container in axis.containers
                              if type(container).__name__ == "ErrorbarContainer"],
                "images": len(axis.images),
                "contours": [c for c in axis.collections if type(c).__name__ in ("QuadContourSet", "ContourSet")] or
                            [c for c in getattr(axis, "_children", []) if "Contour" in type(c).__name__],
                "xticklabels": [t.get_text() for t in axis.get_xticklabels()],
                "yticklabels": [t.get_text() for t in axis.get_yticklabels()],
                "is_3d": axis.name == "3d",
                "empty": not _has_data(axis),
            })
        figures_by_name[name] = panels
        figures_by_name.figure[name] = {
            "suptitle": fig._suptitle.get_text() if fig._suptitle else "",
            "legends": [[t.get_text() for t in legend.get_texts()] for legend in fig.legends]}
        return save(fig, out_dir, name, tight)

    monkeypatch.setattr(figures, "_save", capture)
    return figures_by_name


def write_surface(path, two_d=True, gradient_variance=True, scale=1.0, offset=0.0):
    x = np.linspace(-1, 1, 5)
    y = np.linspace(-1, 1, 4)
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "cellscape-surface"
        f.attrs["evaluations"] = "train,test"
        f["xcoordinates"] = x
        shape = (len(y), len(x)) if two_d else (len(x),)
        if two_d:
            f["ycoordinates"] = y
            loss = 0.3 + offset + scale * np.add.outer(y ** 2, 2 * x ** 2)
        else:
            loss = 0.3 + x ** 2
        for split in ("train", "test"):
            f[f"{split}_loss"] = loss
            f[f"{split}_acc"] = 1 / (1 + loss)
        if gradient_variance:
            f["gradient_variance"] = 1 + loss
        f["completed"] = np.ones(shape, dtype=np.uint8)


def write_hessian(path, density=True):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "cellscape-hessian"
        f.attrs["trace"] = 12.5
        f["eigenvalues"] = np.array([9.0, 4.0])
        if density:
            grid = np.linspace(-1, 10, 50)
            f["density/grid"] = grid
            f["density/density"] = np.exp(-grid ** 2)


def write_gradvar(path):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "cellscape-gradvar"
        f["total_variance"] = np.array([2.0, 1.0])
        f["noise_scale"] = np.array([30.0, 60.0])
        f["tensor_snr"] = np.array([[1.0, 2.0, 3.0], [0.5, 1.0, 1.5]])


def write_checkpoint(path, cell, epochs=3, train_loss=None, test_loss=None):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "cellscape-checkpoint"
        f.attrs["cell_name"] = cell
        f["history/step/loss"] = np.linspace(2, 0.5, 30)
        f["history/epoch/train_loss"] = np.linspace(1.5, 0.5, epochs) if train_loss is None else train_loss
        f["history/epoch/test_loss"] = np.linspace(1.6, 0.7, epochs) if test_loss is None else test_loss
        f["history/epoch/test_accuracy"] = np.linspace(0.5, 0.8, epochs)


# A v2 study: 4 cells x 3 seeds, analysed at epochs 2 and 3; WIDE's seeds 2 and 3
# failed (their directories hold checkpoints of absurd losses that must not be plotted).
LONG = "DARTS_V2-random-connections-count-2-seed-1"
CELLS = [("WIDE", 4.0, 2), ("CHAIN", 1.0, 5), ("MID", 2.0, 3), (LONG, 3.0, 4)]  # name, width, depth
BY_WIDTH = ["CHAIN", "MID", LONG, "WIDE"]
SEEDS = [1, 2, 3]
EPOCHS = [2, 3]
METRIC_NAMES = ["train_loss", "train_acc", "test_loss", "test_acc", "epochs_to_threshold", "top_eigenvalue", "trace",
                "gradient_variance", "noise_scale", "basin_fraction", "basin_radius"]
SHOWN_METRICS = METRIC_NAMES[:-2]  # the basin metrics are NaN throughout: no panels for them
TOP_EIGENVALUE = {"CHAIN": 20.0, "MID": 12.0, LONG: 8.0, "WIDE": 5.0}


def failed(cell, seed):
    return cell == "WIDE" and seed != 1


def history(cell, seed, epochs=3, test=False):
    """The epoch losses of a replicate's checkpoint: each seed and cell its own."""
    if failed(cell, seed):
        return np.full(epochs, 100.0)
    start, end = (1.6, 0.7) if test else (1.5, 0.5)
    return BY_WIDTH.index(cell) * 0.1 + np.linspace(start, end, epochs) * (1 + 0.2 * (seed - 1))


def cell_mean(cell, metric, epoch):
    """The /cells mean of a metric: distinct per cell, metric and epoch; NaN for the basin metrics."""
    if metric.startswith("basin"):
        return np.nan
    if metric == "top_eigenvalue":
        value = TOP_EIGENVALUE[cell]
    else:
        value = 1 + BY_WIDTH.index(cell) + METRIC_NAMES.index(metric)
    return value + (0 if epoch == 3 else 1000)


def cell_interval(cell, metric, epoch):
    """(low, high): NaN for WIDE (one finished replicate), else around the mean."""
    mean = cell_mean(cell, metric, epoch)
    if cell == "WIDE":
        return np.nan, np.nan
    return mean - 1 - 0.1 * BY_WIDTH.index(cell), mean + 2


def association(epoch, metric, predictor, controlling):
    """rho, low, high, p, expected sign, verdict: only epoch 3's plain ones are to be drawn."""
    if epoch != 3 or controlling:
        return 0.11, -0.5, 0.6, 0.9, 0, "no claim"
    if metric == "top_eigenvalue" and predictor == "normal_width":
        return -0.8, -1.0, -0.2, 0.083, -1, "holds"
    if metric == "train_loss" and predictor == "normal_depth":
        return 0.4, -0.6, 0.95, 0.5, -1, "undecided"
    return 0.2, -0.7, 0.9, 0.7, 0, "no claim"


def write_table(f, group, columns):
    for name, values in columns.items():
        if isinstance(values[0], str):
            f.create_dataset(f"{group}/{name}", data=values, dtype=h5py.string_dtype())
        elif isinstance(values[0], (int, np.integer)):
            f[f"{group}/{name}"] = np.asarray(values, dtype=np.int64)
        else:
            f[f"{group}/{name}"] = np.asarray(values, dtype=np.float64)


def write_replicate_files(directory, cell, seed, density=True):
    directory.mkdir(parents=True)
    (directory / "train").mkdir()
    for epoch in EPOCHS:
        write_checkpoint(directory / "train" / f"epoch-{epoch:04d}.h5", cell, epochs=epoch,
                         train_loss=history(cell, seed, epoch), test_loss=history(cell, seed, epoch, test=True))
    scale = 5.0 if cell == "CHAIN" else 1.0  # CHAIN's surface rises to 15.3: above 10 it is left blank
    write_surface(directory / "surface-epoch-0003.h5", scale=scale, offset=50.0 * (seed - 1))
    write_surface(directory / "surface-epoch-0003-pair-1.h5", offset=1000.0)  # another direction pair: not drawn
    write_hessian(directory / "hessian-epoch-0003.h5", density=density)


def write_study(directory, density=True, top_eigenvalue=True):
    """A v2 summary with its replicate files; WIDE's cell directory has a cell.png."""
    replicates = {name: [] for name in ["cell", "genotype", "status", "directory", "seed", "normal_width",
                                        "normal_depth", "reduce_width", "reduce_depth", "parameters", "epoch"]
                  + METRIC_NAMES}
    for cell, width, depth in CELLS:
        for seed in SEEDS:
            write_replicate_files(directory / cell / f"seed-{seed}", cell, seed, density)
            for epoch in [0] if failed(cell, seed) else EPOCHS:
                row = {"cell": cell, "genotype": "Genotype(...)", "directory": f"{cell}/seed-{seed}", "seed": seed,
                       "status": "failed: NaN loss at step 3" if failed(cell, seed) else "ok",
                       "normal_width": width, "normal_depth": depth, "reduce_width": 2.0, "reduce_depth": 2,
                       "parameters": 1000, "epoch": epoch}
                row.update({m: cell_mean(cell, m, epoch) + seed for m in METRIC_NAMES})
                for name, value in row.items():
                    replicates[name].append(value)
    cells = {name: [] for name in ["cell", "genotype", "directory", "normal_width", "normal_depth", "reduce_width",
                                   "reduce_depth", "parameters", "epoch", "n"]}
    for cell, width, depth in CELLS:
        for epoch in EPOCHS:
            row = {"cell": cell, "genotype": "Genotype(...)", "directory": cell, "normal_width": width,
                   "normal_depth": depth, "reduce_width": 2.0, "reduce_depth": 2, "parameters": 1000, "epoch": epoch,
                   "n": sum(not failed(cell, s) for s in SEEDS)}
            for metric in METRIC_NAMES:
                mean = np.nan if metric == "top_eigenvalue" and not top_eigenvalue else cell_mean(cell, metric, epoch)
                low, high = cell_interval(cell, metric, epoch)
                row.update({f"{metric}_mean": mean, f"{metric}_std": 1.0, f"{metric}_ci_low": low,
                            f"{metric}_ci_high": high})
            for name, value in row.items():
                cells.setdefault(name, []).append(value)
    associations = {name: [] for name in ["epoch", "metric", "predictor", "controlling", "spearman_rho", "ci_low",
                                          "ci_high", "p_value", "n_cells", "expected_sign", "verdict"]}
    for epoch in EPOCHS:
        for metric in METRIC_NAMES:
            for predictor, other in [("normal_width", "normal_depth"), ("normal_depth", "normal_width")]:
                for controlling in ["", other]:
                    rho, low, high, p, sign, verdict = association(epoch, metric, predictor, controlling)
                    for name, value in zip(list(associations), [epoch, metric, predictor, controlling, rho, low, high,
                                                                p, 4, sign, verdict]):
                        associations[name].append(value)
    with h5py.File(directory / "summary.h5", "w") as f:
        f.attrs["format"] = "cellscape-study"
        f.attrs["version"] = 2
        f.attrs["name"] = "tiny"
        f.attrs["dataset"] = "fashion-mnist"
        f.attrs["loss_threshold"] = 0.8
        f.attrs["basin_level"] = 1.0
        f["seeds"] = np.array(SEEDS, dtype=np.int64)
        write_table(f, "replicates", replicates)
        write_table(f, "cells", cells)
        write_table(f, "associations", associations)
    plt.imsave(directory / "WIDE" / "cell.png", np.zeros((4, 4, 3)))


def write_v1_study(directory):
    """A summary as cellscape wrote it before version 2: root-level columns."""
    directory.mkdir(exist_ok=True)
    with h5py.File(directory / "summary.h5", "w") as f:
        f.attrs["format"] = "cellscape-study"
        f.attrs["format_version"] = 1
        f.attrs["loss_threshold"] = 0.8
        f.create_dataset("cell", data=["WIDE"], dtype=h5py.string_dtype())
        f.create_dataset("status", data=["ok"], dtype=h5py.string_dtype())
        f["epoch"] = [3]


def assert_written(paths, names):
    written = {p.name for p in paths}
    for name in names:
        assert f"{name}.png" in written and f"{name}.pdf" in written, (name, written)
    for path in paths:
        assert path.stat().st_size > 1000, path


def test_single_file_figures(tmp_path, drawn):
    write_surface(tmp_path / "s.h5")
    write_surface(tmp_path / "line.h5", two_d=False, gradient_variance=False)
    write_hessian(tmp_path / "h.h5")
    write_gradvar(tmp_path / "g.h5")
    write_checkpoint(tmp_path / "c.h5", "DARTS_V2")
    out = tmp_path / "figures"
    assert_written(surface_figures(tmp_path / "s.h5", out), ["s-train_loss", "s-test_loss", "s-log10_gradient_variance"])
    assert_written(surface_figures(tmp_path / "line.h5", out), ["line-curve"])
    assert_written(hessian_figures(tmp_path / "h.h5", out), ["h-hessian"])
    assert_written(gradvar_figures(tmp_path / "g.h5", out), ["g-gradvar"])
    assert_written(train_figures(tmp_path / "c.h5", out), ["c-training"])

    # A 2D surface: contours, filled contours and a 3D surface of that value.
    contours, filled, surface = drawn["s-test_loss"]
    assert (contours["xlabel"], contours["ylabel"]) == ("x", "y") and contours["title"].startswith("test_loss")
    assert surface["is_3d"] and not contours["is_3d"]
    # A line: the loss of each evaluation set along x, as stored.
    loss_panel, accuracy_panel = drawn["line-curve"]
    x = np.linspace(-1, 1, 5)
    assert [label for _, _, label in loss_panel["lines"]] == ["train", "test"]
    for xs, ys, _ in loss_panel["lines"]:
        np.testing.assert_allclose(xs, x)
        np.testing.assert_allclose(ys, 0.3 + x ** 2)
    np.testing.assert_allclose(accuracy_panel["lines"][0][1], 1 / (1.3 + x ** 2))
    # The Hessian file: its eigenvalues, and its density in a second panel.
    eigenvalues, density = drawn["h-hessian"]
    assert "trace 12.5" in eigenvalues["title"]
    np.testing.assert_allclose(density["lines"][0][0], np.linspace(-1, 10, 50))
    # The gradient noise per model, and one SNR curve per model.
    series, snr = drawn["g-gradvar"]
    np.testing.assert_allclose(series["lines"][0][1], [2.0, 1.0])
    np.testing.assert_allclose(series["lines"][1][1], [30.0, 60.0])
    assert len(snr["lines"]) == 2
    np.testing.assert_allclose(snr["lines"][1][1], [0.5, 1.0, 1.5])
    steps, epochs = drawn["c-training"]
    np.testing.assert_allclose(steps["lines"][0][1], np.linspace(2, 0.5, 30))
    assert [label for _, _, label in epochs["lines"]] == ["train loss", "test loss", "test accuracy"]


def test_a_hessian_file_without_a_density_gets_no_empty_panel(tmp_path, drawn):
    write_hessian(tmp_path / "h.h5")
    with h5py.File(tmp_path / "h.h5", "a") as f:
        del f["density"]
    hessian_figures(tmp_path / "h.h5", tmp_path)
    assert len(drawn["h-hessian"]) == 1


def label(cell):
    width, depth = {c: (w, d) for c, w, d in CELLS}[cell]
    return f"{cell} ({width:g}c, depth {depth})"


def test_study_figures(tmp_path, drawn):
    write_study(tmp_path)
    paths = study_figures(tmp_path)
    assert_written(paths, ["cells", "loss-curves", "loss-contours", "loss-contours-linear",
                           "gradient-variance-surfaces", "hessian", "scatter"])
    assert all(p.parent == tmp_path / "figures" for p in paths)
    for name, panels in drawn.items():
        assert panels and not any(panel["empty"] for panel in panels), name
    # Cells ordered by width; the diagram is read from the cell's directory (only WIDE has one).
    assert [panel["images"] for panel in drawn["cells"]] == [0, 0, 0, 1]
    assert [panel["title"] for panel in drawn["cells"]] == [label(c) for c in BY_WIDTH]
    contours = drawn["loss-contours"]
    assert [panel["title"] for panel in contours][::3] == [label("CHAIN"), label("WIDE")]
    assert all(panel["contours"] for panel in contours)
    assert all(panel["is_3d"] for panel in drawn["gradient-variance-surfaces"])
    assert len(drawn["gradient-variance-surfaces"]) == 4


def draw_study(directory, draw, **options):
    """One study figure of a study written here (faster than all of them)."""
    write_study(directory, **options)
    return draw(figures.Study(directory), directory / "figures")


def test_loss_curves_are_the_mean_over_seeds_with_a_min_to_max_band(tmp_path, drawn):
    draw_study(tmp_path, figures.study_loss_curves)
    train, test = drawn["loss-curves"]
    for panel, is_test in [(train, False), (test, True)]:
        assert "band min to max" in panel["title"]
        means = [line for line in panel["lines"] if not line[2].startswith("_")]
        assert [line[2] for line in means] == [label(c) for c in BY_WIDTH]
        assert len(panel["bands"]) == len(BY_WIDTH)
        for cell, (epochs, mean, _), band in zip(BY_WIDTH, means, panel["bands"]):
            # From each finished replicate's last checkpoint (epoch 3: 3 epochs); WIDE's failed seed left out.
            seeds = np.array([history(cell, s, 3, is_test) for s in SEEDS if not failed(cell, s)])
            np.testing.assert_allclose(epochs, [1, 2, 3])
            np.testing.assert_allclose(mean, seeds.mean(axis=0))
            for epoch in epochs:
                at = band[np.isclose(band[:, 0], epoch), 1]
                assert at.min() == pytest.approx(seeds[:, int(epoch) - 1].min()), (cell, epoch)
                assert at.max() == pytest.approx(seeds[:, int(epoch) - 1].max()), (cell, epoch)
    threshold = [ys for _, ys, line_label in train["lines"] if line_label.startswith("_")]
    assert threshold and np.allclose(threshold[0], 0.8)  # the study's loss threshold
    (legend,) = drawn.figure["loss-curves"]["legends"]
    assert legend == [label(c) for c in BY_WIDTH] + ["band: min to max"]


def test_many_cells_get_loss_curves_per_width_group(tmp_path, drawn, monkeypatch):
    monkeypatch.setattr(figures, "MOST_CELLS_DRAWN_ONE_BY_ONE", 3)
    draw_study(tmp_path, figures.study_loss_curves)
    train, _ = drawn["loss-curves"]
    assert "over cells" in train["title"]
    means = [line for line in train["lines"] if not line[2].startswith("_")]
    assert [line[2] for line in means] == ["1c (1 cells)", "2c (1 cells)", "3c (1 cells)", "4c (1 cells)"]
    # One cell per width: the group's curve is that cell's mean over seeds.
    seeds = np.array([history("MID", s, 3) for s in SEEDS])
    np.testing.assert_allclose(means[1][1], seeds.mean(axis=0))


def test_the_linear_contours_have_the_papers_levels_and_nothing_above_10(tmp_path, drawn):
    draw_study(tmp_path, figures.study_linear_contours)
    panels = drawn["loss-contours-linear"]
    titles = [panel["title"] for panel in panels]
    assert titles[0] == label("CHAIN") and titles[3] == label("WIDE")
    # A long name is wrapped above its width and depth, no line longer than the short titles.
    assert titles[2].startswith("DARTS_V2-random-") and titles[2].endswith("\n(3c, depth 4)")
    assert max(len(line) for title in titles for line in title.split("\n")) <= 28
    for panel in panels:
        (contour,) = panel["contours"]
        levels = np.asarray(contour.levels)
        assert levels[0] == pytest.approx(0.1) and levels.max() <= 10 and np.allclose(np.diff(levels), 0.5)
        assert contour.zmax <= 10  # CHAIN's surface reaches 15.3: that part is blank
        # The first seed's direction pair 0 (the other seeds' and pair 1's surfaces lie above 50).
        assert contour.zmin == pytest.approx(0.3 + (5 if panel["title"] == label("CHAIN") else 1) / 9)
    assert "blank above 10" in drawn.figure["loss-contours-linear"]["suptitle"]


def replicate_values(cell, metric, epoch=3):
    """A cell's finished replicates' values as write_study stores them."""
    return np.array([cell_mean(cell, metric, epoch) + seed for seed in SEEDS if not failed(cell, seed)])


def log_interval(values):
    """Geometric mean and the 95% t interval of the mean log, back on the values' scale (scipy)."""
    logs = np.log(values)
    if len(values) < 2:
        return np.exp(logs.mean()), np.nan, np.nan
    low, high = stats.t.interval(0.95, len(values) - 1, loc=logs.mean(), scale=stats.sem(logs))
    return np.exp(logs.mean()), np.exp(low), np.exp(high)


def test_the_scatter_plots_show_seeds_means_intervals_fit_and_association(tmp_path, drawn):
    draw_study(tmp_path, figures.study_scatter)
    scatter = drawn["scatter"]
    assert len(scatter) == 2 * len(SHOWN_METRICS)  # the basin metrics, NaN throughout, get no panels
    assert not any(panel["empty"] for panel in scatter)
    predictors = {c: (w, d) for c, w, d in CELLS}
    for index, metric in enumerate(SHOWN_METRICS):
        positive = metric in ("top_eigenvalue", "trace", "gradient_variance", "noise_scale")
        for column in range(2):
            panel = scatter[2 * index + column]
            assert panel["xlabel"] == ["normal-cell width (c)", "normal-cell depth"][column]
            x = np.array([predictors[c][column] for c in BY_WIDTH], float)
            # Every finished seed's value as a dot (WIDE's failed seeds left out).
            *seed_dots, centres = panel["points"]
            expected_dots = [(x[i], v) for i, c in enumerate(BY_WIDTH) for v in replicate_values(c, metric)]
            np.testing.assert_allclose(np.concatenate(seed_dots), expected_dots)
            if positive:
                # Geometric means with the 95% interval of the mean log: never below zero.
                summaries = np.array([log_interval(replicate_values(c, metric)) for c in BY_WIDTH])
                means, lows, highs = summaries.T
                assert "(geometric mean)" in panel["ylabel"]
            else:
                means = np.array([cell_mean(c, metric, 3) for c in BY_WIDTH])
                lows, highs = np.array([cell_interval(c, metric, 3) for c in BY_WIDTH]).T
            np.testing.assert_allclose(centres, np.column_stack([x, means]))
            # The 95% interval from low to high; none for WIDE (one finished replicate).
            (bars,) = panel["errorbars"]
            expected = [[[x[i], lows[i]], [x[i], highs[i]]] for i, c in enumerate(BY_WIDTH) if c != "WIDE"]
            np.testing.assert_allclose(bars, expected)
            assert (bars[:, :, 1] > 0).all() or not positive
            (fit,) = [line for line in panel["lines"] if line[2] == "least squares"]
            if positive:
                np.testing.assert_allclose(np.log(fit[1]), np.polyval(np.polyfit(x, np.log(means), 1), fit[0]))
            else:
                np.testing.assert_allclose(fit[1], np.polyval(np.polyfit(x, means, 1), fit[0]))
    top_by_width = scatter[2 * SHOWN_METRICS.index("top_eigenvalue")]
    assert top_by_width["ylabel"] == "top Hessian eigenvalue (geometric mean)"
    assert top_by_width["title"] == "rho -0.80 [-1.00, -0.20], p 0.083, 4 cells\nholds (paper: rho < 0)"
    train_loss_by_depth = scatter[2 * SHOWN_METRICS.index("train_loss") + 1]
    assert train_loss_by_depth["title"] == "rho +0.40 [-0.60, +0.95], p 0.5, 4 cells\nundecided (paper: rho < 0)"
    assert scatter[2]["title"] == "rho +0.20 [-0.70, +0.90], p 0.7, 4 cells\nno claim"
    assert scatter[2 * SHOWN_METRICS.index("epochs_to_threshold")]["ylabel"] == "epochs to train loss <= 0.8"


def add_proxy_columns(directory, proxy, values):
    """The summary's columns of one proxy: `values[cell]` for every finished replicate of
    the cell (its seeds in SEEDS order) at every epoch, and the cells' means."""
    with h5py.File(directory / "summary.h5", "a") as f:
        cells = [c.decode() for c in f["replicates/cell"][()]]
        seeds = f["replicates/seed"][()]
        f[f"replicates/{proxy}"] = np.array([values[c][SEEDS.index(s)] for c, s in zip(cells, seeds)])
        means = np.array([np.mean([v for s, v in zip(SEEDS, values[c.decode()]) if not failed(c.decode(), s)])
                          for c in f["cells/cell"][()]])
        f[f"cells/{proxy}_mean"] = means
        f[f"cells/{proxy}_ci_low"] = means - 0.5
        f[f"cells/{proxy}_ci_high"] = means + 0.5


def test_the_proxies_figure_draws_the_proxies_a_study_computed_and_nothing_without_them(tmp_path, drawn):
    write_study(tmp_path)
    assert figures.study_proxies(figures.Study(tmp_path), tmp_path / "figures") == []
    assert "proxies" not in drawn
    snip = {c: [10.0 * (1 + BY_WIDTH.index(c)) + s for s in SEEDS] for c in BY_WIDTH}
    grasp = {c: [-1.0 * BY_WIDTH.index(c) - 0.1 * s for s in SEEDS] for c in BY_WIDTH}
    add_proxy_columns(tmp_path, "snip", snip)
    add_proxy_columns(tmp_path, "grasp", grasp)
    study = figures.Study(tmp_path)
    figures.study_proxies(study, tmp_path / "figures")
    panels = drawn["proxies"]
    assert [p["ylabel"] for p in panels] == ["SNIP (at initialization) (geometric mean)"] * 2 + [
        "GraSP (at initialization)"] * 2
    # SNIP's seeds as dots at each cell's width, WIDE's failed seeds left out.
    *dots, centres = panels[0]["points"]
    widths = {c: w for c, w, _ in CELLS}
    expected = [(widths[c], v) for c in BY_WIDTH for s, v in zip(SEEDS, snip[c]) if not failed(c, s)]
    np.testing.assert_allclose(np.concatenate(dots), expected)
    # The trained metrics' figure is unchanged by the proxies' columns.
    figures.study_scatter(study, tmp_path / "figures")
    assert len(drawn["scatter"]) == 2 * len(SHOWN_METRICS)


def test_the_study_hessian_figure_never_has_an_empty_panel(tmp_path, drawn):
    draw_study(tmp_path / "both", figures.study_hessian)
    eigenvalues, densities = drawn["hessian"]
    *seed_dots, centres = eigenvalues["points"]
    np.testing.assert_allclose(np.concatenate(seed_dots)[:, 1],
                               np.concatenate([replicate_values(c, "top_eigenvalue") for c in BY_WIDTH]))
    summaries = np.array([log_interval(replicate_values(c, "top_eigenvalue")) for c in BY_WIDTH])
    np.testing.assert_allclose(centres[:, 1], summaries[:, 0])
    (intervals,) = eigenvalues["errorbars"]
    np.testing.assert_allclose(intervals[:, :, 1], summaries[:3, 1:])
    assert eigenvalues["xticklabels"][2] == "DARTS_V2-rand\u2026\n3c"  # long names shortened
    assert len(densities["lines"]) == 4
    draw_study(tmp_path / "no-density", figures.study_hessian, density=False)
    assert len(drawn["hessian"]) == 1 and len(drawn["hessian"][0]["points"]) == 5
    draw_study(tmp_path / "density-only", figures.study_hessian, top_eigenvalue=False)
    assert [len(panel["lines"]) for panel in drawn["hessian"]] == [4]
    del drawn["hessian"]
    assert draw_study(tmp_path / "neither", figures.study_hessian, density=False, top_eigenvalue=False) == []
    assert "hessian" not in drawn


def test_a_version_1_summary_gets_one_line_saying_to_rerun_the_study(tmp_path, capsys):
    write_v1_study(tmp_path)
    with pytest.raises(PlotInputError, match="written by an older cellscape"):
        study_figures(tmp_path)
    assert main(["study", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "older cellscape" in error and "rerun `cellscape study`" in error


def test_a_file_missing_a_dataset_gets_a_clear_error(tmp_path, capsys):
    write_surface(tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5", "a") as f:
        del f["test_loss"]
    with pytest.raises(PlotInputError, match="has no dataset 'test_loss'"):
        surface_figures(tmp_path / "s.h5", tmp_path)
    assert main(["surface", str(tmp_path / "s.h5")]) == 1
    assert "cellscape_plots: error:" in capsys.readouterr().err
    write_hessian(tmp_path / "h.h5")
    assert main(["surface", str(tmp_path / "h.h5")]) == 1
    assert "is a cellscape-hessian file, not cellscape-surface" in capsys.readouterr().err
    assert main(["study", str(tmp_path / "nowhere")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_ctrl_c_stops_the_figures_with_one_line_and_status_130(tmp_path):
    """SIGINT while a study's figures are drawn: one line, status 130, no traceback, and
    only whole files (each is written under a temporary name and renamed)."""
    import signal
    import time
    write_study(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "cellscape_plots", "study", str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    figures_dir = tmp_path / "figures"
    deadline = time.monotonic() + 120
    while not (figures_dir.exists() and any(figures_dir.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.02)  # interrupt once drawing has begun
    process.send_signal(signal.SIGINT)
    _, error = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the figures were all drawn before the interrupt arrived")
    assert process.returncode == 130, error
    lines = [line for line in error.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("cellscape_plots: interrupted"), error
    assert not list(figures_dir.glob(".*.partial"))
    for path in figures_dir.iterdir():
        if path.suffix == ".png":
            assert plt.imread(path).size > 0  # a whole PNG, readable


def add_mediation_table(directory, n_cells, rows):
    """A version 4 mediation table at the last epoch: rows of (mediator, indirect, low, high, verdict, p_holm)."""
    columns = {name: [] for name in ["epoch", "population", "predictor", "outcome", "mediator", "total", "a", "b",
                                     "direct", "indirect", "ci_low", "ci_high", "proportion", "p_holm", "n_cells",
                                     "minimum_cells", "notes", "verdict"]}
    for mediator, indirect, low, high, verdict, p_holm in rows:
        values = [3, "", "normal_width", "epochs_to_threshold", mediator, -0.8, 0.5, indirect / 0.5, -0.8 - indirect,
                  indirect, low, high, indirect / -0.8, p_holm, n_cells, 12, "", verdict]
        for name, value in zip(columns, values):
            columns[name].append(value)
    with h5py.File(directory / "summary.h5", "a") as f:
        write_table(f, "mediation", columns)


def test_the_mediation_figure_shows_verdicts_and_leaves_too_few_cells_without_intervals(tmp_path, drawn):
    write_study(tmp_path)
    add_mediation_table(tmp_path, 30, [("top_eigenvalue", 0.1, -0.05, 0.3, "undecided", 0.4),
                                       ("gradient_variance", -0.3, -0.5, -0.1, "carries", 0.01)])
    figures.study_mediation(figures.Study(tmp_path), tmp_path / "figures")
    panel = drawn["mediation"][0]
    assert len(panel["errorbars"][0]) == 2  # both rows have an interval
    assert panel["yticklabels"] == ["top_eigenvalue (share -0.12)\nundecided, Holm p 0.4",
                                    "gradient_variance (share +0.37)\ncarries, Holm p 0.01"]
    assert "fewer than" not in panel["title"]
    few = tmp_path / "few"
    write_study(few)
    add_mediation_table(few, 5, [("top_eigenvalue", 0.1, np.nan, np.nan, "too few cells", np.nan),
                                 ("trace", -0.2, np.nan, np.nan, "too few cells", np.nan)])
    figures.study_mediation(figures.Study(few), few / "figures")
    panel = drawn["mediation"][0]
    # No interval to draw: the estimates alone, hollow, and the title says why.
    assert not panel["errorbars"] or len(panel["errorbars"][0]) == 0
    assert sorted(panel["points"][-1][:, 0]) == [-0.2, 0.1]
    assert "fewer than 12 cells:\nestimates only, no interval or test" in panel["title"]
