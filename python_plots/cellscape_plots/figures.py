"""The figures: one function per kind of file, and the study's figures.
Every function writes PNG and PDF files and returns their paths."""
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .files import CellscapeFile, PlotInputError  # noqa: E402


def _save(fig, out_dir, name, tight=True):
    """Writes the figure as NAME.png and NAME.pdf and closes it (every figure goes through here)."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    if tight:
        fig.tight_layout()
    for path in paths:
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return paths


def _width_label(width):
    return f"{width:g}c"


def _width_colors(widths):
    """One colour per cell, ordered by width (narrow: dark, wide: bright)."""
    widths = np.asarray(widths, dtype=float)
    span = widths.max() - widths.min() if len(widths) else 0
    scaled = (widths - widths.min()) / span if span > 0 else np.zeros_like(widths)
    return [plt.cm.viridis(0.1 + 0.8 * s) for s in scaled]


# ---------------------------------------------------------------- single files

def surface_figures(path, out_dir):
    """Contour, filled contour and 3D surface per evaluation set (2D), or
    loss and accuracy curves (1D); the gradient-variance surface if present."""
    paths = []
    stem = pathlib.Path(path).stem
    with CellscapeFile(path, "cellscape-surface") as f:
        x = f.array("xcoordinates")
        evaluations = [e for e in f.attribute("evaluations").split(",") if e]
        if not f.has("ycoordinates"):
            fig, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(9, 3.5))
            for split in evaluations:
                loss_axis.plot(x, f.array(f"{split}_loss"), marker=".", label=split)
                accuracy_axis.plot(x, f.array(f"{split}_acc"), marker=".", label=split)
            loss_axis.set(xlabel="a", ylabel="loss", title=f"{stem}: loss along the line")
            accuracy_axis.set(xlabel="a", ylabel="accuracy", title="accuracy")
            loss_axis.legend()
            return _save(fig, out_dir, f"{stem}-curve")
        y = f.array("ycoordinates")
        grid_x, grid_y = np.meshgrid(x, y)
        surfaces = [(f"{split}_loss", f.array(f"{split}_loss")) for split in evaluations]
        if f.has("gradient_variance"):  # spans orders of magnitude: log10
            surfaces.append(("log10_gradient_variance", np.log10(np.maximum(f.array("gradient_variance"), 1e-300))))
        for name, values in surfaces:
            fig = plt.figure(figsize=(13, 4))
            contour_axis = fig.add_subplot(1, 3, 1)
            lines = contour_axis.contour(grid_x, grid_y, values, levels=15, cmap="viridis")
            contour_axis.clabel(lines, fontsize=6)
            contour_axis.set(xlabel="x", ylabel="y", title=f"{name}: contours")
            filled_axis = fig.add_subplot(1, 3, 2)
            filled = filled_axis.contourf(grid_x, grid_y, values, levels=30, cmap="viridis")
            fig.colorbar(filled, ax=filled_axis)
            filled_axis.set(xlabel="x", ylabel="y", title="filled contours")
            surface_axis = fig.add_subplot(1, 3, 3, projection="3d")
            surface_axis.plot_surface(grid_x, grid_y, values, cmap="viridis", linewidth=0)
            surface_axis.set(xlabel="x", ylabel="y", title="surface")
            paths += _save(fig, out_dir, f"{stem}-{name}")
    return paths


def hessian_figures(path, out_dir):
    """Top (and bottom) eigenvalues, and the spectral density when present."""
    stem = pathlib.Path(path).stem
    with CellscapeFile(path, "cellscape-hessian") as f:
        has_density = f.has("density/grid")
        fig, axes = plt.subplots(1, 2 if has_density else 1, figsize=(10 if has_density else 5, 3.5), squeeze=False)
        axis = axes[0][0]
        if f.has("eigenvalues"):
            values = f.array("eigenvalues")
            axis.stem(np.arange(1, len(values) + 1), values, label="top")
        if f.has("bottom_eigenvalues"):
            values = f.array("bottom_eigenvalues")
            axis.stem(np.arange(1, len(values) + 1), values, linefmt="C3-", markerfmt="C3o", label="bottom")
        if not (f.has("eigenvalues") or f.has("bottom_eigenvalues")):
            raise PlotInputError(f"{path} has neither 'eigenvalues' nor 'bottom_eigenvalues'")
        trace = f.attribute("trace", default=np.nan)
        axis.set(xlabel="index", ylabel="eigenvalue", title=f"{stem}: Hessian eigenvalues (trace {trace:.4g})")
        axis.legend()
        if has_density:
            density_axis = axes[0][1]
            density_axis.semilogy(f.array("density/grid"), np.maximum(f.array("density/density"), 1e-12))
            density_axis.set(xlabel="eigenvalue", ylabel="density", title="spectral density (SLQ)")
    return _save(fig, out_dir, f"{stem}-hessian")


def gradvar_figures(path, out_dir):
    """Total variance and noise scale per model, and per-tensor signal-to-noise ratios."""
    stem = pathlib.Path(path).stem
    with CellscapeFile(path, "cellscape-gradvar") as f:
        variance, noise = f.array("total_variance"), f.array("noise_scale")
        snr = f.array("tensor_snr")
        fig, (series_axis, snr_axis) = plt.subplots(1, 2, figsize=(10, 3.5))
        models = np.arange(len(variance))
        series_axis.plot(models, variance, marker="o", label="E||g_B - g||^2")
        series_axis.plot(models, noise, marker="s", label="noise scale")
        series_axis.set(xlabel="model (order of --checkpoint)", yscale="log", title=f"{stem}: gradient noise")
        series_axis.legend()
        for row in range(snr.shape[0]):
            snr_axis.semilogy(np.arange(snr.shape[1]), snr[row], marker=".", linewidth=0.5, label=f"model {row}")
        snr_axis.set(xlabel="parameter tensor", ylabel="||g_t|| / sqrt(var_t)", title="per-tensor SNR")
        snr_axis.legend()
    return _save(fig, out_dir, f"{stem}-gradvar")


def train_figures(path, out_dir):
    """A checkpoint's training history: step loss, epoch train/test loss and accuracy."""
    stem = pathlib.Path(path).stem
    with CellscapeFile(path, "cellscape-checkpoint") as f:
        fig, (step_axis, epoch_axis) = plt.subplots(1, 2, figsize=(10, 3.5))
        step_axis.plot(f.array("history/step/loss"), linewidth=0.6)
        step_axis.set(xlabel="step", ylabel="mini-batch loss", title=f"{f.attribute('cell_name')}: steps")
        epochs = np.arange(1, len(f.array("history/epoch/train_loss")) + 1)
        epoch_axis.plot(epochs, f.array("history/epoch/train_loss"), marker="o", label="train loss")
        epoch_axis.plot(epochs, f.array("history/epoch/test_loss"), marker="s", label="test loss")
        epoch_axis.plot(epochs, f.array("history/epoch/test_accuracy"), marker="^", label="test accuracy")
        epoch_axis.set(xlabel="epoch", title="epochs")
        epoch_axis.legend()
    return _save(fig, out_dir, f"{stem}-training")


# ---------------------------------------------------------------------- study

class Study:
    """A study directory: summary.h5 and the per-cell files it points to."""

    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        with CellscapeFile(self.directory / "summary.h5", "cellscape-study") as f:
            self.rows = {name: f.array(name) for name in
                         ["normal_width", "normal_depth", "reduce_width", "reduce_depth", "parameters", "epoch",
                          "train_loss", "test_loss", "test_acc", "epochs_to_threshold", "top_eigenvalue", "trace",
                          "gradient_variance", "noise_scale"]}
            for name in ["cell", "status", "directory"]:
                self.rows[name] = np.array(f.strings(name))
            self.loss_threshold = float(f.attribute("loss_threshold"))
        ok = self.rows["status"] == "ok"
        if not ok.any():
            raise PlotInputError(f"{self.directory}/summary.h5 has no successful cell to plot")
        # The cells (one entry each), ordered by width, then name.
        cells = {}
        for i in np.flatnonzero(ok):
            cells.setdefault(self.rows["cell"][i], i)
        self.cells = sorted(cells, key=lambda c: (self.rows["normal_width"][cells[c]], c))
        self.first_row = cells
        self.last_epoch = int(self.rows["epoch"][ok].max())

    def value(self, cell, column, epoch=None):
        rows = (self.rows["cell"] == cell) & (self.rows["status"] == "ok")
        if epoch is not None:
            rows &= self.rows["epoch"] == epoch
        values = self.rows[column][rows]
        return values[-1] if len(values) else np.nan

    def cell_file(self, cell, name):
        return self.directory / self.rows["directory"][self.first_row[cell]] / name

    def width(self, cell):
        return float(self.rows["normal_width"][self.first_row[cell]])

    def depth(self, cell):
        return int(self.rows["normal_depth"][self.first_row[cell]])

    def label(self, cell):
        return f"{cell} ({_width_label(self.width(cell))}, depth {self.depth(cell)})"


def _grid(count, columns=3):
    columns = min(columns, count)
    return (count + columns - 1) // columns, columns


def study_cell_diagrams(study, out_dir):
    rows, columns = _grid(len(study.cells), 2)
    fig, axes = plt.subplots(rows, columns, figsize=(7 * columns, 3.2 * rows), squeeze=False)
    for axis, cell in zip(axes.flat, study.cells):
        image_path = study.cell_file(cell, "cell.png")
        if image_path.exists():
            axis.imshow(plt.imread(image_path))
        axis.set_title(study.label(cell), fontsize=9)
        axis.axis("off")
    for axis in axes.flat[len(study.cells):]:
        axis.axis("off")
    return _save(fig, out_dir, "cells")


def study_loss_curves(study, out_dir):
    fig, (train_axis, test_axis) = plt.subplots(1, 2, figsize=(11, 4))
    colors = _width_colors([study.width(c) for c in study.cells])
    final = f"epoch-{study.last_epoch:04d}.h5"
    for cell, color in zip(study.cells, colors):
        with CellscapeFile(study.cell_file(cell, f"train/{final}"), "cellscape-checkpoint") as f:
            train, test = f.array("history/epoch/train_loss"), f.array("history/epoch/test_loss")
        epochs = np.arange(1, len(train) + 1)
        train_axis.plot(epochs, train, marker="o", color=color, label=study.label(cell))
        test_axis.plot(epochs, test, marker="s", color=color, label=study.label(cell))
    train_axis.axhline(study.loss_threshold, color="grey", linestyle=":", linewidth=1)
    train_axis.set(xlabel="epoch", ylabel="training loss", title="training loss (colour: width)")
    test_axis.set(xlabel="epoch", ylabel="test loss", title="test loss")
    train_axis.legend(fontsize=7)
    return _save(fig, out_dir, "loss-curves")


def _surface_files(study):
    name = f"surface-epoch-{study.last_epoch:04d}.h5"
    return [(cell, study.cell_file(cell, name)) for cell in study.cells if study.cell_file(cell, name).exists()]


def study_loss_contours(study, out_dir):
    surfaces = []
    for cell, path in _surface_files(study):
        with CellscapeFile(path, "cellscape-surface") as f:
            if not f.has("ycoordinates"):
                continue
            split = f.attribute("evaluations").split(",")[0]
            surfaces.append((cell, f.array("xcoordinates"), f.array("ycoordinates"), f.array(f"{split}_loss"), split))
    if not surfaces:
        return []
    finite = np.concatenate([s[3][np.isfinite(s[3])].ravel() for s in surfaces])
    levels = np.geomspace(max(finite.min(), 1e-6), finite.max(), 20)  # one colour scale for all cells
    rows, columns = _grid(len(surfaces))
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.8 * rows), squeeze=False)
    for axis, (cell, x, y, loss, split) in zip(axes.flat, surfaces):
        filled = axis.contourf(x, y, loss, levels=levels, cmap="viridis", norm=matplotlib.colors.LogNorm())
        axis.contour(x, y, loss, levels=levels, colors="white", linewidths=0.3)
        axis.set_title(f"{study.label(cell)}\n{split} loss", fontsize=8)
        axis.set_aspect("equal")
    for axis in axes.flat[len(surfaces):]:
        axis.axis("off")
    fig.colorbar(filled, ax=list(axes.flat), shrink=0.8, label="loss (shared scale)")
    return _save(fig, out_dir, "loss-contours", tight=False)  # the shared colour bar does not fit tight_layout


def study_gradient_variance_surfaces(study, out_dir):
    surfaces = []
    for cell, path in _surface_files(study):
        with CellscapeFile(path, "cellscape-surface") as f:
            if f.has("ycoordinates") and f.has("gradient_variance"):
                surfaces.append((cell, f.array("xcoordinates"), f.array("ycoordinates"), f.array("gradient_variance")))
    if not surfaces:
        return []
    # The variance spans orders of magnitude across a slice: log10, one z scale for all cells.
    logs = [np.log10(np.maximum(s[3], 1e-300)) for s in surfaces]
    bottom = min(np.nanmin(v[np.isfinite(v)]) for v in logs)
    top = max(np.nanmax(v[np.isfinite(v)]) for v in logs)
    rows, columns = _grid(len(surfaces))
    fig = plt.figure(figsize=(4.5 * columns, 4 * rows))
    for index, ((cell, x, y, _), values) in enumerate(zip(surfaces, logs)):
        axis = fig.add_subplot(rows, columns, index + 1, projection="3d")
        grid_x, grid_y = np.meshgrid(x, y)
        axis.plot_surface(grid_x, grid_y, values, cmap="magma", vmin=bottom, vmax=top, linewidth=0)
        axis.set_zlim(bottom, top)
        axis.set_title(study.label(cell), fontsize=8)
        axis.set(xlabel="x", ylabel="y", zlabel="log10 gradient variance")
    return _save(fig, out_dir, "gradient-variance-surfaces")


def study_hessian(study, out_dir):
    """The top eigenvalue per cell, and the spectral densities beside it when any cell has one."""
    colors = _width_colors([study.width(c) for c in study.cells])
    name = f"hessian-epoch-{study.last_epoch:04d}.h5"
    densities = []
    for cell, color in zip(study.cells, colors):
        path = study.cell_file(cell, name)
        if path.exists():
            with CellscapeFile(path, "cellscape-hessian") as f:
                if f.has("density/grid"):
                    densities.append((cell, color, f.array("density/grid"), f.array("density/density")))
    fig, axes = plt.subplots(1, 2 if densities else 1, figsize=(11 if densities else 6, 4), squeeze=False)
    bar_axis = axes[0][0]
    for index, (cell, color) in enumerate(zip(study.cells, colors)):
        bar_axis.bar(index, study.value(cell, "top_eigenvalue", study.last_epoch), color=color)
    bar_axis.set_xticks(range(len(study.cells)))
    bar_axis.set_xticklabels([f"{c}\n{_width_label(study.width(c))}" for c in study.cells], fontsize=6, rotation=30)
    bar_axis.set(ylabel="top Hessian eigenvalue", title=f"sharpness at epoch {study.last_epoch}")
    if densities:
        density_axis = axes[0][1]
        for cell, color, grid, density in densities:
            density_axis.semilogy(grid, np.maximum(density, 1e-8), color=color, label=study.label(cell))
        density_axis.set(xlabel="eigenvalue", ylabel="density", title="spectral density (SLQ)")
        density_axis.legend(fontsize=6)
    return _save(fig, out_dir, "hessian")


def study_scatter(study, out_dir):
    columns = [("top_eigenvalue", "top Hessian eigenvalue"), ("gradient_variance", "gradient variance"),
               ("epochs_to_threshold", f"epochs to train loss <= {study.loss_threshold:g}"),
               ("test_acc", "test accuracy")]
    fig, axes = plt.subplots(2, len(columns), figsize=(4 * len(columns), 7))
    colors = _width_colors([study.width(c) for c in study.cells])
    for column, (name, title) in enumerate(columns):
        for row, (measure, label) in enumerate([(study.width, "normal-cell width (c)"),
                                                (study.depth, "normal-cell depth")]):
            axis = axes[row][column]
            for cell, color in zip(study.cells, colors):
                axis.scatter(measure(cell), study.value(cell, name, study.last_epoch), color=color, s=40)
                axis.annotate(cell, (measure(cell), study.value(cell, name, study.last_epoch)), fontsize=5)
            axis.set(xlabel=label, ylabel=title)
    fig.suptitle(f"at epoch {study.last_epoch}")
    return _save(fig, out_dir, "scatter")


def study_figures(directory, out_dir=None):
    """Every figure of a study into DIR/figures (or out_dir)."""
    study = Study(directory)
    out_dir = pathlib.Path(out_dir) if out_dir else study.directory / "figures"
    paths = []
    for draw in (study_cell_diagrams, study_loss_curves, study_loss_contours, study_gradient_variance_surfaces,
                 study_hessian, study_scatter):
        paths += draw(study, out_dir)
    return paths
