"""The plotting package on small files written here with the documented
names (docs/hdf5-schema.md): every figure is produced, and a file that lacks
a name gets one clear error line, not a traceback."""
import h5py
import numpy as np
import pytest

from cellscape_plots import PlotInputError, figures
from cellscape_plots.__main__ import main
from cellscape_plots.figures import (gradvar_figures, hessian_figures, study_figures, surface_figures,
                                     train_figures)


@pytest.fixture
def drawn(monkeypatch):
    """Every figure saved during a test, by file name: its axes (titles, labels,
    lines' data, scatter points, bars, images, contour sets), read off the
    matplotlib objects just before they are written and closed."""
    figures_by_name = {}
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
                "images": len(axis.images),
                "contours": [c for c in axis.collections if type(c).__name__ in ("QuadContourSet", "ContourSet")] or
                            [c for c in getattr(axis, "_children", []) if "Contour" in type(c).__name__],
                "is_3d": axis.name == "3d",
                "empty": not (axis.get_lines() or axis.collections or axis.patches or axis.images or
                              not axis.axison),
            })
        figures_by_name[name] = panels
        return save(fig, out_dir, name, tight)

    monkeypatch.setattr(figures, "_save", capture)
    return figures_by_name


def write_surface(path, two_d=True, gradient_variance=True):
    x = np.linspace(-1, 1, 5)
    y = np.linspace(-1, 1, 4)
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "cellscape-surface"
        f.attrs["evaluations"] = "train,test"
        f["xcoordinates"] = x
        shape = (len(y), len(x)) if two_d else (len(x),)
        if two_d:
            f["ycoordinates"] = y
            loss = 0.3 + np.add.outer(y ** 2, 2 * x ** 2)
        else:
            loss = 0.3 + x ** 2
        for split in ("train", "test"):
            f[f"{split}_loss"] = loss
            f[f"{split}_acc"] = 1 / (1 + loss)
        if gradient_variance:
            f["gradient_variance"] = 1 + loss
        f["completed"] = np.ones(shape, dtype=np.uint8)


def write_hessian(path):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "cellscape-hessian"
        f.attrs["trace"] = 12.5
        f["eigenvalues"] = np.array([9.0, 4.0])
        grid = np.linspace(-1, 10, 50)
        f["density/grid"] = grid
        f["density/density"] = np.exp(-grid ** 2)


def write_gradvar(path):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "cellscape-gradvar"
        f["total_variance"] = np.array([2.0, 1.0])
        f["noise_scale"] = np.array([30.0, 60.0])
        f["tensor_snr"] = np.array([[1.0, 2.0, 3.0], [0.5, 1.0, 1.5]])


def write_checkpoint(path, cell, epochs=3):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "cellscape-checkpoint"
        f.attrs["cell_name"] = cell
        f["history/step/loss"] = np.linspace(2, 0.5, 30)
        f["history/epoch/train_loss"] = np.linspace(1.5, 0.5, epochs)
        f["history/epoch/test_loss"] = np.linspace(1.6, 0.7, epochs)
        f["history/epoch/test_accuracy"] = np.linspace(0.5, 0.8, epochs)


def write_study(directory):
    cells = [("WIDE", "WIDE", 4.0, 2), ("CHAIN", "CHAIN", 1.0, 5)]
    for _, folder, _, _ in cells:
        (directory / folder / "train").mkdir(parents=True)
        write_checkpoint(directory / folder / "train" / "epoch-0003.h5", folder)
        write_surface(directory / folder / "surface-epoch-0003.h5")
        write_hessian(directory / folder / "hessian-epoch-0003.h5")
    strings = h5py.string_dtype()
    with h5py.File(directory / "summary.h5", "w") as f:
        f.attrs["format"] = "cellscape-study"
        f.attrs["loss_threshold"] = 0.8
        f.create_dataset("cell", data=[c[0] for c in cells], dtype=strings)
        f.create_dataset("directory", data=[c[1] for c in cells], dtype=strings)
        f.create_dataset("status", data=["ok", "ok"], dtype=strings)
        f["normal_width"] = [c[2] for c in cells]
        f["normal_depth"] = [c[3] for c in cells]
        f["reduce_width"] = [2.0, 2.0]
        f["reduce_depth"] = [2, 2]
        f["parameters"] = [1000, 800]
        f["epoch"] = [3, 3]
        for name, values in [("train_loss", [0.4, 0.6]), ("test_loss", [0.5, 0.7]), ("test_acc", [0.8, 0.7]),
                             ("epochs_to_threshold", [2.0, np.nan]), ("top_eigenvalue", [5.0, 20.0]),
                             ("trace", [50.0, 90.0]), ("gradient_variance", [1.0, 3.0]),
                             ("noise_scale", [10.0, 30.0])]:
            f[name] = np.array(values)


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


def test_study_figures(tmp_path, drawn):
    write_study(tmp_path)
    paths = study_figures(tmp_path)
    assert_written(paths, ["cells", "loss-curves", "loss-contours", "gradient-variance-surfaces", "hessian",
                           "scatter"])
    assert all(p.parent == tmp_path / "figures" for p in paths)
    for name, panels in drawn.items():
        assert not any(panel["empty"] for panel in panels), name

    # Cells ordered by width: CHAIN (1c) first, then WIDE (4c).
    train, test = drawn["loss-curves"]
    assert [label for _, _, label in train["lines"] if label.startswith(("CHAIN", "WIDE"))] == [
        "CHAIN (1c, depth 5)", "WIDE (4c, depth 2)"]
    for _, ys, label in train["lines"][:2]:
        np.testing.assert_allclose(ys, np.linspace(1.5, 0.5, 3))
    threshold = [ys for _, ys, label in train["lines"] if label.startswith("_")]
    assert threshold and np.allclose(threshold[0], 0.8)  # the study's loss threshold
    np.testing.assert_allclose(test["lines"][1][1], np.linspace(1.6, 0.7, 3))
    assert len(drawn["loss-contours"]) == 2
    assert [panel["title"].split("\n")[0] for panel in drawn["loss-contours"]] == [
        "CHAIN (1c, depth 5)", "WIDE (4c, depth 2)"]
    assert all(panel["is_3d"] for panel in drawn["gradient-variance-surfaces"])
    assert len(drawn["gradient-variance-surfaces"]) == 2
    assert sum(panel["images"] for panel in drawn["cells"]) == 0  # no cell.png in this study: titled blanks
    bars, densities = drawn["hessian"]
    assert bars["bars"] == [20.0, 5.0]  # top eigenvalues, CHAIN then WIDE
    assert len(densities["lines"]) == 2
    # 4 measures against width (top row) and depth (bottom row); one point per cell.
    scatter = drawn["scatter"]
    assert len(scatter) == 8
    top_eigenvalue_by_width, top_eigenvalue_by_depth = scatter[0], scatter[4]
    assert top_eigenvalue_by_width["xlabel"] == "normal-cell width (c)"
    points = np.concatenate(top_eigenvalue_by_width["points"])
    np.testing.assert_allclose(points, [[1.0, 20.0], [4.0, 5.0]])
    np.testing.assert_allclose(np.concatenate(top_eigenvalue_by_depth["points"]), [[5, 20.0], [2, 5.0]])
    assert "epochs to train loss <= 0.8" in scatter[2]["ylabel"]


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
