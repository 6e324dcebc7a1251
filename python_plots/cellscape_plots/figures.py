"""The figures: one function per kind of file, and the study's figures,
each writing PNG and PDF files and returning their paths; and the plots
they are made of, for notebooks: plot_metric, plot_top_eigenvalues,
plot_loss_curves, plot_mediation and plot_surface draw on an `ax=` you give
(or a new figure) and return the Figure. Importing this module leaves
matplotlib's backend alone (the command line chooses Agg)."""
import pathlib
import textwrap

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from .files import CellscapeFile, PlotInputError


def _save(fig, out_dir, name, tight=True):
    """Writes the figure as NAME.png and NAME.pdf and closes it (every figure goes through here).
    Each file is written under a temporary name and renamed: an interrupted run leaves whole
    figures or none."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    if tight and fig.get_layout_engine() is None:  # a constrained figure keeps its own layout
        fig.tight_layout()
    try:
        for path in paths:
            partial = path.with_name(f".{path.name}.partial")
            try:
                fig.savefig(partial, dpi=120, format=path.suffix[1:])
                partial.replace(path)
            finally:
                partial.unlink(missing_ok=True)
    finally:
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

# The metrics of a study summary (docs/hdf5-schema.md), with their axis labels.
METRICS = [("train_loss", "training loss"), ("train_acc", "training accuracy"), ("test_loss", "test loss"),
           ("test_acc", "test accuracy"), ("epochs_to_threshold", "epochs to train loss <= {threshold:g}"),
           ("top_eigenvalue", "top Hessian eigenvalue"), ("trace", "Hessian trace"),
           ("gradient_variance", "gradient variance"), ("noise_scale", "gradient noise scale"),
           ("basin_fraction", "basin fraction"), ("basin_radius", "basin radius")]
# The zero-cost proxies of the replicates' initial networks ([analysis.proxies]): their own figure.
PROXY_METRICS = [("grad_norm", "grad_norm (at initialization)"), ("snip", "SNIP (at initialization)"),
                 ("grasp", "GraSP (at initialization)"), ("fisher", "Fisher (at initialization)"),
                 ("synflow", "synflow (at initialization)"), ("jacob_cov", "jacob_cov (at initialization)"),
                 ("naswot", "NASWOT (at initialization)"), ("zico", "ZiCo (at initialization)")]
PREDICTORS = [("normal_width", "normal-cell width (c)"), ("normal_depth", "normal-cell depth")]
REPLICATE_COLUMNS = ["cell", "status", "directory", "seed", "normal_width", "normal_depth", "epoch"]
CELL_COLUMNS = ["cell", "directory", "normal_width", "normal_depth", "epoch", "n"]
ASSOCIATION_COLUMNS = ["epoch", "metric", "predictor", "controlling", "spearman_rho", "ci_low", "ci_high", "p_value",
                       "n_cells", "expected_sign", "verdict"]
# loss-landscape's plot_2D defaults (vmin 0.1, vmax 10, vlevel 0.5): the paper's contour levels.
LINEAR_LEVELS = np.arange(0.1, 10, 0.5)
LINEAR_MAX = 10.0


class Replicate:
    """One finished training run of a cell (one seed): its directory and its last analysed epoch."""

    def __init__(self, seed, directory, epoch):
        self.seed, self.directory, self.epoch = seed, directory, epoch

    def file(self, name):
        return self.directory / name


class Study:
    """A study directory: summary.h5 (the tables replicates, cells and
    associations; from version 3 also metric_associations and mediation, and
    a population per cell) and the cell and replicate files it points to."""

    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        path = self.directory / "summary.h5"
        with CellscapeFile(path, "cellscape-study") as f:
            if not f.has("replicates"):
                raise PlotInputError(f"{path} was written by an older cellscape (summary version 1, without the "
                                     "replicates, cells and associations tables): rerun `cellscape study` on its "
                                     "configuration, which resumes from the finished files and rewrites the summary")
            self.replicates = f.table("replicates", REPLICATE_COLUMNS)
            self.cell_rows = f.table("cells", CELL_COLUMNS)
            self.associations = f.table("associations", ASSOCIATION_COLUMNS)
            self.mediation = f.table("mediation") if f.has("mediation") else None
            self.name = str(f.attribute("name", default=self.directory.name))
            self.loss_threshold = float(f.attribute("loss_threshold"))
            self.seeds = [int(s) for s in f.array("seeds")] if f.has("seeds") else []
        self.ok = self.replicates["status"] == "ok"
        if not self.ok.any():
            raise PlotInputError(f"{path} has no finished replicate to plot")
        self.last_epoch = int(self.replicates["epoch"][self.ok].max())
        first = {}
        for i in np.flatnonzero(self.ok):
            first.setdefault(self.replicates["cell"][i], i)
        self._first_row = first
        self.cells = sorted(first, key=lambda c: (self.width(c), c))  # by width, then name
        self.population = self._main_population()

    def _main_population(self):
        """The population the association rows rank the most cells of ("" before version 3)."""
        table = self.associations
        if "population" not in table or not len(table["population"]):
            return ""
        counts = {}
        for population, cells in zip(table["population"], table["n_cells"]):
            counts[population] = max(counts.get(population, 0), int(cells))
        return max(counts, key=lambda p: (counts[p], -list(counts).index(p)))

    def population_of(self, cell):
        """The cell's population ("" before version 3)."""
        if "population" not in self.replicates:
            return ""
        return str(self.replicates["population"][self._first_row[cell]])

    def width(self, cell):
        return float(self.replicates["normal_width"][self._first_row[cell]])

    def depth(self, cell):
        return int(self.replicates["normal_depth"][self._first_row[cell]])

    def predictor(self, cell, name):
        return self.width(cell) if name == "normal_width" else self.depth(cell)

    def label(self, cell):
        return f"{cell} ({_width_label(self.width(cell))}, depth {self.depth(cell)})"

    def panel_title(self, cell, width=24):
        """The label, on one line when short, else the name wrapped above '(W c, depth D)'."""
        label = self.label(cell)
        if len(label) <= width + 4:
            return label
        return textwrap.fill(cell, width) + f"\n({_width_label(self.width(cell))}, depth {self.depth(cell)})"

    def cell_directory(self, cell):
        rows = np.flatnonzero(self.cell_rows["cell"] == cell)
        if not len(rows):
            raise PlotInputError(f"{self.directory}/summary.h5 has no row for cell {cell} in 'cells'")
        return self.directory / self.cell_rows["directory"][rows[0]]

    def replicates_of(self, cell, epoch=None):
        """The cell's finished replicates in the order of the study's seeds, each
        at its last finished epoch (or at `epoch`: only those that reached it)."""
        rows = self.ok & (self.replicates["cell"] == cell)
        if epoch is not None:
            rows &= self.replicates["epoch"] == epoch
        last = {}
        for i in np.flatnonzero(rows):
            seed = int(self.replicates["seed"][i])
            if seed not in last or self.replicates["epoch"][i] > self.replicates["epoch"][last[seed]]:
                last[seed] = i
        order = sorted(last, key=lambda s: (self.seeds.index(s) if s in self.seeds else len(self.seeds), s))
        return [Replicate(s, self.directory / self.replicates["directory"][last[s]],
                          int(self.replicates["epoch"][last[s]])) for s in order]

    def first_replicate_file(self, cell, name):
        """The file `name` of the cell's first seed that finished the last epoch (None: no such seed or file)."""
        for replicate in self.replicates_of(cell, self.last_epoch)[:1]:
            if replicate.file(name).exists():
                return replicate.file(name)
        return None

    def cell_value(self, cell, column, epoch=None):
        """A /cells column of the cell at `epoch` (default: the last), NaN when absent."""
        epoch = self.last_epoch if epoch is None else epoch
        if column not in self.cell_rows:
            return np.nan
        rows = (self.cell_rows["cell"] == cell) & (self.cell_rows["epoch"] == epoch)
        values = self.cell_rows[column][rows]
        return float(values[-1]) if len(values) else np.nan

    def association(self, metric, predictor, controlling="", epoch=None, population=None):
        """The /associations row of metric ~ predictor in a population (default: the
        main one, whose cells it ranks the most of) as a dict, or None."""
        epoch = self.last_epoch if epoch is None else epoch
        population = self.population if population is None else population
        table = self.associations
        selected = ((table["epoch"] == epoch) & (table["metric"] == metric) & (table["predictor"] == predictor) &
                    (table["controlling"] == controlling))
        if "population" in table:
            selected &= table["population"] == population
        rows = np.flatnonzero(selected)
        return {name: values[rows[0]] for name, values in table.items()} if len(rows) else None

    def metric_label(self, metric):
        return dict(METRICS + PROXY_METRICS)[metric].format(threshold=self.loss_threshold)

    def replicate_values(self, cell, metric, epoch=None):
        """The finite values of a metric over the cell's finished replicates at `epoch` (default: the last)."""
        epoch = self.last_epoch if epoch is None else epoch
        rows = self.ok & (self.replicates["cell"] == cell) & (self.replicates["epoch"] == epoch)
        if metric not in self.replicates:
            return np.array([])
        values = np.asarray(self.replicates[metric][rows], dtype=float)
        return values[np.isfinite(values)]


def _grid(count, columns=3):
    columns = min(columns, count)
    return (count + columns - 1) // columns, columns


def _panels(count, columns, panel_size):
    """A constrained figure with `count` panels in rows of `columns`; the unused grid cells removed."""
    rows, columns = _grid(count, columns)
    fig, axes = plt.subplots(rows, columns, figsize=(panel_size[0] * columns, panel_size[1] * rows),
                             squeeze=False, layout="constrained")
    for axis in axes.flat[count:]:
        fig.delaxes(axis)
    return fig, list(axes.flat[:count])


def _short(name, length=14):
    return name if len(name) <= length else name[:length - 1] + "\u2026"


def study_cell_diagrams(study, out_dir):
    fig, axes = _panels(len(study.cells), 2, (7, 3.2))
    for axis, cell in zip(axes, study.cells):
        image_path = study.cell_directory(cell) / "cell.png"
        if image_path.exists():
            axis.imshow(plt.imread(image_path))
        axis.set_title(study.panel_title(cell, 60), fontsize=9)
        axis.axis("off")
    return _save(fig, out_dir, "cells")


def _padded(rows):
    """Rows of different lengths as one array, NaN after each row's end."""
    table = np.full((len(rows), max(len(r) for r in rows)), np.nan)
    for index, row in enumerate(rows):
        table[index, :len(row)] = row
    return table


def _loss_histories(study, cell):
    """The epoch train and test losses of the cell's finished replicates (replicates x epochs),
    from each one's last checkpoint."""
    train, test = [], []
    for replicate in study.replicates_of(cell):
        with CellscapeFile(replicate.file(f"train/epoch-{replicate.epoch:04d}.h5"), "cellscape-checkpoint") as f:
            train.append(f.array("history/epoch/train_loss"))
            test.append(f.array("history/epoch/test_loss"))
    return _padded(train), _padded(test)


# Beyond this many cells a line per cell is a tangle: curves per width group.
MOST_CELLS_DRAWN_ONE_BY_ONE = 12


def plot_loss_curves(study, split="train", ax=None):
    """The training (split="train") or test loss per epoch, coloured by width: with up to
    12 cells a line per cell (mean over its seeds) with a band from the lowest to the
    highest seed; with more, a line per width group (mean over its cells' means) with a
    band from its lowest to its highest cell. `study`: a Study or a study directory.
    Returns the Figure."""
    study = _as_study(study)
    fig, axis = _figure_axis(ax, (6.5, 4.2))
    colors = dict(zip(study.cells, _width_colors([study.width(c) for c in study.cells])))
    histories = {cell: _loss_histories(study, cell)[0 if split == "train" else 1] for cell in study.cells}
    if len(study.cells) <= MOST_CELLS_DRAWN_ONE_BY_ONE:
        groups = [(study.label(cell), colors[cell], histories[cell]) for cell in study.cells]
        band = "seeds"
    else:
        widths = sorted({study.width(c) for c in study.cells})
        groups = []
        for width in widths:
            members = [c for c in study.cells if study.width(c) == width]
            means = _padded([np.nanmean(histories[c], axis=0) for c in members])
            groups.append((f"{_width_label(width)} ({len(members)} cells)", colors[members[0]], means))
        band = "cells"
    for label, color, rows in groups:
        epochs = np.arange(1, rows.shape[1] + 1)
        axis.fill_between(epochs, np.nanmin(rows, axis=0), np.nanmax(rows, axis=0), color=color, alpha=0.2,
                          linewidth=0, label="_band")
        axis.plot(epochs, np.nanmean(rows, axis=0), marker="o" if split == "train" else "s", markersize=3,
                  color=color, label=label)
    if split == "train":
        axis.axhline(study.loss_threshold, color="grey", linestyle=":", linewidth=1)
    else:
        axis.set_yscale("log")  # one diverging seed's early test loss would flatten the others
    what = "training" if split == "train" else "test"
    axis.set(xlabel="epoch", ylabel=f"{what} loss", title=f"{what} loss: mean, band min to max over {band}")
    return fig


def study_loss_curves(study, out_dir):
    """Train and test loss per epoch (plot_loss_curves), one legend for both."""
    entries = len(study.cells) if len(study.cells) <= MOST_CELLS_DRAWN_ONE_BY_ONE else 8
    height = max(4.2, 0.15 * (entries + 3) + 0.6)  # a legend line per entry (7 pt lines are about 0.15 in)
    fig, (train_axis, test_axis) = plt.subplots(1, 2, figsize=(12, height), layout="constrained")
    plot_loss_curves(study, "train", ax=train_axis)
    plot_loss_curves(study, "test", ax=test_axis)
    handles, labels = train_axis.get_legend_handles_labels()
    handles.append(matplotlib.patches.Patch(color="grey", alpha=0.3))
    labels.append("band: min to max")
    fig.legend(handles, labels, loc="outside right upper", fontsize=7, title="colour: width")
    return _save(fig, out_dir, "loss-curves")


def _surfaces(study, dataset=None):
    """(cell, x, y, values, split) of every cell's 2D surface (its first seed, direction pair 0, last
    epoch): `dataset`, or the loss of the first evaluation set."""
    surfaces = []
    for cell in study.cells:
        path = study.first_replicate_file(cell, f"surface-epoch-{study.last_epoch:04d}.h5")
        if path is None:
            continue
        with CellscapeFile(path, "cellscape-surface") as f:
            split = f.attribute("evaluations").split(",")[0]
            name = dataset or f"{split}_loss"
            if f.has("ycoordinates") and f.has(name):
                surfaces.append((cell, f.array("xcoordinates"), f.array("ycoordinates"), f.array(name), split))
    return surfaces


def study_loss_contours(study, out_dir):
    """Every cell's loss surface on one logarithmic colour scale."""
    surfaces = _surfaces(study)
    if not surfaces:
        return []
    finite = np.concatenate([s[3][np.isfinite(s[3])].ravel() for s in surfaces])
    levels = np.geomspace(max(finite.min(), 1e-6), finite.max(), 20)  # one colour scale for all cells
    fig, axes = _panels(len(surfaces), 3, (3.8, 3.6))
    for axis, (cell, x, y, loss, split) in zip(axes, surfaces):
        filled = axis.contourf(x, y, loss, levels=levels, cmap="viridis", norm=matplotlib.colors.LogNorm())
        axis.contour(x, y, loss, levels=levels, colors="white", linewidths=0.3)
        axis.set_title(study.panel_title(cell), fontsize=8)
        axis.set_aspect("equal")
    fig.colorbar(filled, ax=axes, shrink=0.8, format="%.3g", label=f"{split} loss (shared log scale)")
    fig.suptitle(f"{split} loss at epoch {study.last_epoch} (first seed), by width")
    return _save(fig, out_dir, "loss-contours")


def study_linear_contours(study, out_dir):
    """Every cell's loss surface as the paper draws it: contour lines at loss-landscape's
    linear levels (0.1 to 10 by 0.5), nothing above 10."""
    surfaces, omitted = [], []
    for surface in _surfaces(study):
        (surfaces if np.any(surface[3] <= LINEAR_MAX) else omitted).append(surface)
    if not surfaces:
        return []
    fig, axes = _panels(len(surfaces), 4, (3.3, 3.2))
    for axis, (cell, x, y, loss, split) in zip(axes, surfaces):
        shown = np.ma.masked_where(~(loss <= LINEAR_MAX), loss)  # above 10 (or NaN): blank
        lines = axis.contour(x, y, shown, levels=LINEAR_LEVELS, cmap="viridis", vmin=LINEAR_LEVELS[0],
                             vmax=LINEAR_MAX, linewidths=0.8)
        axis.clabel(lines, inline=True, fontsize=5, fmt="%.1f")
        axis.set_title(study.panel_title(cell), fontsize=8)
        axis.set_aspect("equal")
    title = f"{split} loss at epoch {study.last_epoch} (first seed): levels 0.1 to 10 by 0.5, blank above 10"
    if omitted:
        title += "\nnot shown (loss above 10 everywhere): " + ", ".join(s[0] for s in omitted)
    fig.suptitle(title, fontsize=9)
    return _save(fig, out_dir, "loss-contours-linear")


def study_gradient_variance_surfaces(study, out_dir):
    surfaces = _surfaces(study, "gradient_variance")
    if not surfaces:
        return []
    # The variance spans orders of magnitude across a slice: log10, one z scale for all cells.
    logs = [np.log10(np.maximum(s[3], 1e-300)) for s in surfaces]
    bottom = min(np.nanmin(v[np.isfinite(v)]) for v in logs)
    top = max(np.nanmax(v[np.isfinite(v)]) for v in logs)
    rows, columns = _grid(len(surfaces))
    fig = plt.figure(figsize=(4.5 * columns, 4 * rows))
    for index, ((cell, x, y, _, _), values) in enumerate(zip(surfaces, logs)):
        axis = fig.add_subplot(rows, columns, index + 1, projection="3d")
        grid_x, grid_y = np.meshgrid(x, y)
        axis.plot_surface(grid_x, grid_y, values, cmap="magma", vmin=bottom, vmax=top, linewidth=0)
        axis.set_zlim(bottom, top)
        axis.set_title(study.panel_title(cell), fontsize=8)
        axis.set(xlabel="x", ylabel="y", zlabel="log10 gradient variance")
    return _save(fig, out_dir, "gradient-variance-surfaces")


def _cell_means(study, metric):
    """Per cell (in study order): the mean over seeds and its 95% interval, from /cells."""
    return [np.array([study.cell_value(c, f"{metric}_{part}") for c in study.cells])
            for part in ("mean", "ci_low", "ci_high")]


# Positive metrics whose seeds spread over factors, not amounts: their
# intervals are drawn on the log scale, where they cannot go below zero.
POSITIVE_METRICS = {"top_eigenvalue", "trace", "gradient_variance", "noise_scale", "grad_norm", "snip", "synflow"}


def _log_interval(values, level=0.95):
    """Geometric mean and the Student-t interval of the mean of log(values), back on the
    values' scale: (centre, low, high); NaN bounds with fewer than 2 values."""
    logs = np.log(values)
    centre = float(np.exp(logs.mean()))
    if len(values) < 2:
        return centre, np.nan, np.nan
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * logs.std(ddof=1) / np.sqrt(len(values))
    return centre, float(np.exp(logs.mean() - half)), float(np.exp(logs.mean() + half))


def _cell_summaries(study, metric):
    """Per cell: (centre, low, high) and every seed's value, and whether the scale is logarithmic:
    for a positive metric whose every value is positive, the geometric mean with the log-scale
    interval; otherwise the arithmetic mean with the Student-t interval of /cells."""
    seeds = [study.replicate_values(c, metric) for c in study.cells]
    logarithmic = metric in POSITIVE_METRICS and all(len(v) and (v > 0).all() for v in seeds if len(v))
    logarithmic = logarithmic and any(len(v) for v in seeds)
    if logarithmic:
        summaries = [_log_interval(v) if len(v) else (np.nan, np.nan, np.nan) for v in seeds]
        centre, low, high = (np.array(column) for column in zip(*summaries))
    else:
        centre, low, high = _cell_means(study, metric)
    return centre, low, high, seeds, logarithmic


def _figure_axis(ax, figsize):
    """The axis to draw on and its figure: `ax`, or a new figure's only axis."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    return ax.figure, ax


def _as_study(study):
    return study if isinstance(study, Study) else Study(study)


def _interval_bars(axis, x, mean, low, high):
    """Error bars from low to high where the interval is known (n >= 2)."""
    known = np.isfinite(mean) & np.isfinite(low) & np.isfinite(high)
    if known.any():
        axis.errorbar(np.asarray(x, float)[known], mean[known],
                      yerr=[mean[known] - low[known], high[known] - mean[known]],
                      fmt="none", ecolor="black", elinewidth=0.8, capsize=3, zorder=2)


def _density_curves(study, colors):
    """(cell, colour, grid, density) of every cell's first seed with a spectral density."""
    curves = []
    for cell, color in zip(study.cells, colors):
        path = study.first_replicate_file(cell, f"hessian-epoch-{study.last_epoch:04d}.h5")
        if path is not None:
            with CellscapeFile(path, "cellscape-hessian") as f:
                if f.has("density/grid"):
                    curves.append((cell, color, f.array("density/grid"), f.array("density/density")))
    return curves


def study_hessian(study, out_dir):
    """The top eigenvalue per cell (mean over seeds, 95% interval) and the spectral
    densities (first seed): a panel only for what the study computed."""
    colors = _width_colors([study.width(c) for c in study.cells])
    mean, _, _ = _cell_means(study, "top_eigenvalue")
    has_bars, densities = np.isfinite(mean).any(), _density_curves(study, colors)
    count = int(has_bars) + int(bool(densities))
    if not count:
        return []
    bars_width = max(6.0, 0.3 * len(study.cells) + 2) if has_bars else 0  # a readable label per bar
    fig, axes = plt.subplots(1, count, figsize=(bars_width + 6 * bool(densities), 5.5 if has_bars else 4.2),
                             squeeze=False, layout="constrained",
                             gridspec_kw={"width_ratios": [bars_width, 6][:count] if count == 2 else [1]})
    axes = list(axes[0])
    if has_bars:
        plot_top_eigenvalues(study, ax=axes.pop(0))
    if densities:
        _densities(axes.pop(0), study, densities)
    return _save(fig, out_dir, "hessian")


def plot_top_eigenvalues(study, ax=None):
    """The top Hessian eigenvalue of every cell (by width): each seed's value, and the
    geometric mean with its 95% interval on the log scale (arithmetic when a value is not
    positive). `study`: a Study or a study directory. Returns the Figure."""
    study = _as_study(study)
    fig, axis = _figure_axis(ax, (max(6.0, 0.3 * len(study.cells) + 2), 5.5))
    colors = _width_colors([study.width(c) for c in study.cells])
    centre, low, high, seeds, logarithmic = _cell_summaries(study, "top_eigenvalue")
    positions = np.arange(len(study.cells))
    for position, values, color in zip(positions, seeds, colors):
        axis.scatter(np.full(len(values), position), values, color=color, s=12, alpha=0.6, zorder=2)
    _interval_bars(axis, positions, centre, low, high)
    axis.scatter(positions, centre, color="black", marker="_", s=120, zorder=3)
    axis.set_xticks(positions)
    if len(study.cells) > 4:  # whole names, one per cell, upright
        axis.set_xticklabels([f"{c} ({_width_label(study.width(c))})" for c in study.cells], fontsize=6,
                             rotation=90)
    else:
        axis.set_xticklabels([f"{_short(c)}\n{_width_label(study.width(c))}" for c in study.cells], fontsize=6)
    if logarithmic:
        axis.set_yscale("log")
    kind = "geometric mean, 95% interval on the log scale" if logarithmic else "mean, 95% t interval"
    axis.set(ylabel="top Hessian eigenvalue", title=f"sharpness at epoch {study.last_epoch}\ndots: seeds; {kind}")
    return fig


def _densities(axis, study, densities):
    for cell, color, grid, density in densities:
        axis.semilogy(grid, np.maximum(density, 1e-8), color=color, label=study.label(cell))
    axis.set(xlabel="eigenvalue", ylabel="density", title="spectral density (SLQ, first seed)")
    axis.legend(fontsize=6)


def _least_squares(x, y):
    """Slope and intercept through the finite points, or None when x does not vary."""
    finite = np.isfinite(x) & np.isfinite(y)
    if finite.sum() < 2 or np.ptp(x[finite]) == 0:
        return None
    return np.polyfit(x[finite], y[finite], 1)


def _association_title(row):
    """rho [interval], p (Holm-adjusted when the summary has it), the smallest |rho|
    the study detects, and the verdict against the paper's claim."""
    if row is None:
        return "no association in the summary"
    claim = {-1: "paper: rho < 0", 1: "paper: rho > 0"}.get(int(row["expected_sign"]), "")
    if not np.isfinite(row["spearman_rho"]):
        return f"rho undefined ({row['n_cells']} cells)\n{row['verdict']}"
    p = f"p {row['p_value']:.2g}"
    if "p_holm" in row:
        p += f" (Holm {row['p_holm']:.2g})"
    detectable = row.get("min_detectable_rho", np.nan)
    second = row["verdict"] + (f" ({claim})" if claim else "")
    level = row.get("power_alpha", np.nan)
    at = f" at p < {level:.2g}" if np.isfinite(level) else ""
    if np.isfinite(detectable):
        second += f"; detects |rho| >= {detectable:.2f}{at}"
    elif "cannot be planned" in str(row.get("power_note", "")):
        second += "; min|rho| not plannable"
    return (f"rho {row['spearman_rho']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}], {p}, "
            f"{row['n_cells']} cells\n{second}")


def plot_metric(study, metric, predictor="normal_width", ax=None):
    """A metric of every cell against its width (or depth): each seed's value (small dots),
    the cell's mean with its 95% interval (for the positive metrics of POSITIVE_METRICS the
    geometric mean with the interval on the log scale), a least-squares line through the
    main population's cells (other populations hollow), and the summary's association in
    the title. `study`: a Study or a study directory. Returns the Figure."""
    study = _as_study(study)
    fig, axis = _figure_axis(ax, (4.5, 3.4))
    colors = np.asarray(_width_colors([study.width(c) for c in study.cells]))
    x = np.array([study.predictor(c, predictor) for c in study.cells], dtype=float)
    centre, low, high, seeds, logarithmic = _cell_summaries(study, metric)
    for position, values, color in zip(x, seeds, colors):
        axis.scatter(np.full(len(values), position), values, color=color, s=6, alpha=0.35, zorder=1)
    _interval_bars(axis, x, centre, low, high)
    ranked = np.array([study.population_of(c) == study.population for c in study.cells])
    axis.scatter(x[ranked], centre[ranked], color=colors[ranked], s=30, zorder=3)
    if (~ranked).any():  # other populations (e.g. random-ops controls): shown, not in the rank test
        axis.scatter(x[~ranked], centre[~ranked], facecolors="none", edgecolors="black", s=30, zorder=3,
                     label="other populations")
    shown = np.log(centre) if logarithmic else centre
    fit = _least_squares(x[ranked], shown[ranked])
    if fit is not None:
        ends = np.array([np.nanmin(x[ranked]), np.nanmax(x[ranked])])
        line = np.polyval(fit, ends)
        axis.plot(ends, np.exp(line) if logarithmic else line, color="grey", linestyle="--", linewidth=1,
                  label="least squares")
    if logarithmic:
        axis.set_yscale("log")
    label = study.metric_label(metric) + (" (geometric mean)" if logarithmic else "")
    axis.set(xlabel=dict(PREDICTORS)[predictor], ylabel=label)
    axis.set_title(_association_title(study.association(metric, predictor)), fontsize=8)
    if predictor == "normal_depth":
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    return fig


def _metrics_grid(study, metrics, positive, holm):
    """The panels of plot_metric for every metric that has a value, against width and depth,
    with a title that says how to read them; None when no metric has a value."""
    metrics = [m for m, _ in metrics if np.isfinite(_cell_means(study, m)[0]).any()]
    if not metrics:
        return None
    fig, axes = plt.subplots(len(metrics), len(PREDICTORS), figsize=(9, 2.8 * len(metrics) + 1.0), squeeze=False,
                             layout="constrained")
    for row, metric in enumerate(metrics):
        for column, (predictor, _) in enumerate(PREDICTORS):
            plot_metric(study, metric, predictor, ax=axes[row][column])
    population = f", population {study.population} (hollow: other populations)" if study.population else ""
    fig.suptitle(f"{study.name}, epoch {study.last_epoch}{population}:\ndots: seeds; points: per-cell means with "
                 f"95% intervals (geometric, on a log scale,\nfor {positive}); "
                 "dashed: least squares\nrho: Spearman's rank correlation of the cells' means [95% bootstrap "
                 f"interval],\np: permutation test (Holm: adjusted over {holm})", fontsize=9)
    return fig


def study_scatter(study, out_dir):
    """Every metric that has a value: per-cell means against width and against depth,
    with 95% intervals, a least-squares line and Spearman's rho from the summary."""
    fig = _metrics_grid(study, METRICS, "eigenvalue, trace, gradient variance, noise scale",
                        "the associations table's trained metrics")
    return _save(fig, out_dir, "scatter") if fig else []


def study_proxies(study, out_dir):
    """The zero-cost proxies of the replicates' initial networks, when the study computed
    them: as study_scatter, into proxies.png/pdf."""
    fig = _metrics_grid(study, PROXY_METRICS, "grad_norm, SNIP, synflow", "the proxies' rows")
    return _save(fig, out_dir, "proxies") if fig else []


def _mediation_rows(study):
    table = study.mediation
    if table is None or not len(table.get("mediator", [])):
        return table, np.array([], dtype=int)
    return table, np.flatnonzero((table["epoch"] == study.last_epoch) & (table["population"] == study.population))


def plot_mediation(study, ax=None):
    """How much of width -> convergence each metric carries (the summary's mediation table at
    the last epoch, main population): the indirect association a*b with its 95% bootstrap
    interval, beside the total. `study`: a Study or a study directory. Returns the Figure."""
    study = _as_study(study)
    table, rows = _mediation_rows(study)
    if not len(rows):
        raise PlotInputError(f"{study.directory}/summary.h5 has no mediation rows for population "
                             f"'{study.population}' at epoch {study.last_epoch}")
    fig, axis = _figure_axis(ax, (7.5, 0.5 * len(rows) + 1.8))
    positions = np.arange(len(rows))
    indirect = np.asarray(table["indirect"][rows], dtype=float)
    low, high = np.asarray(table["ci_low"][rows], dtype=float), np.asarray(table["ci_high"][rows], dtype=float)
    has_interval = np.isfinite(low) & np.isfinite(high)
    axis.errorbar(indirect[has_interval], positions[has_interval],
                  xerr=[indirect[has_interval] - low[has_interval], high[has_interval] - indirect[has_interval]],
                  fmt="o", color="black", capsize=3)
    # Rows without an interval (too few cells): the estimate alone, hollow.
    axis.scatter(indirect[~has_interval], positions[~has_interval], facecolors="none", edgecolors="grey", zorder=3)
    total = float(table["total"][rows[0]])
    axis.axvline(0, color="grey", linewidth=0.8)
    axis.axvline(total, color="tab:red", linestyle="--", linewidth=1,
                 label=f"total: rho(width, epochs to threshold) = {total:+.2f}")
    verdicts = table["verdict"][rows] if "verdict" in table else [""] * len(rows)
    p_holm = table["p_holm"][rows] if "p_holm" in table else [np.nan] * len(rows)
    labels = []
    for mediator, share, verdict, p in zip(table["mediator"][rows], table["proportion"][rows], verdicts, p_holm):
        text = f"{mediator} (share {share:+.2f})" if np.isfinite(share) else str(mediator)
        if verdict:
            text += f"\n{verdict}" + (f", Holm p {p:.2g}" if np.isfinite(p) else "")
        labels.append(text)
    axis.set_yticks(positions)
    axis.set_yticklabels(labels, fontsize=7)
    n_cells = int(table["n_cells"][rows[0]])
    minimum = int(table["minimum_cells"][rows[0]]) if "minimum_cells" in table else 0
    few = f"; fewer than {minimum} cells:\nestimates only, no interval or test" if n_cells < minimum else ""
    axis.set(xlabel="indirect association a*b (ranks) with 95% bootstrap interval",
             title=f"{study.name}, epoch {study.last_epoch}, population {study.population} "
                   f"({n_cells} cells{few})\nwidth -> convergence through each metric (an association, not a cause)")
    axis.title.set_fontsize(9)
    axis.legend(fontsize=8, loc="best")
    return fig


def study_mediation(study, out_dir):
    """plot_mediation into mediation.png/pdf, when the summary has the table."""
    if not len(_mediation_rows(study)[1]):
        return []
    return _save(plot_mediation(study), out_dir, "mediation")


def plot_surface(surface, value=None, levels=None, ax=None):
    """Contour lines of one value of a 2D surface: `surface` a file path or the xarray
    Dataset read_surface gives, `value` its variable (default: the first evaluated loss),
    `levels` as matplotlib's contour takes them (default: 15 between the extremes, on a log
    scale for a positive value spanning more than a factor of 100). Returns the Figure."""
    from .tables import read_surface
    dataset = read_surface(surface) if isinstance(surface, (str, pathlib.Path)) else surface
    if "y" not in dataset.coords:
        raise PlotInputError("plot_surface draws 2D surfaces; this one is 1D (plot dataset[value] against x)")
    if value is None:  # the loss of the first evaluated split
        splits = [e for e in str(dataset.attrs.get("evaluations", "")).split(",") if e]
        value = f"{splits[0]}_loss" if splits else next((n for n in dataset.data_vars if n.endswith("_loss")), None)
    if value not in dataset:
        raise PlotInputError(f"the surface has no '{value}' (it has {', '.join(dataset.data_vars)})")
    fig, axis = _figure_axis(ax, (4.5, 4))
    values = np.asarray(dataset[value].values, dtype=float)
    finite = values[np.isfinite(values)]
    norm = None
    if levels is None:
        if finite.size and finite.min() > 0 and finite.max() > 100 * finite.min():
            levels = np.geomspace(finite.min(), finite.max(), 15)
            norm = matplotlib.colors.LogNorm()
        else:
            levels = 15
    lines = axis.contour(dataset["x"].values, dataset["y"].values, values, levels=levels, cmap="viridis", norm=norm)
    axis.clabel(lines, fontsize=6, fmt="%.3g")
    axis.set(xlabel="x", ylabel="y", title=value, aspect="equal")
    return fig


def study_figures(directory, out_dir=None):
    """Every figure of a study into DIR/figures (or out_dir)."""
    study = Study(directory)
    out_dir = pathlib.Path(out_dir) if out_dir else study.directory / "figures"
    paths = []
    for draw in (study_cell_diagrams, study_loss_curves, study_loss_contours, study_linear_contours,
                 study_gradient_variance_surfaces, study_hessian, study_scatter, study_proxies, study_mediation):
        paths += draw(study, out_dir)
    return paths


# ---------------------------------------------------------------- rank files

def _as_rank(rank):
    from .tables import RankTables, read_rank
    return rank if isinstance(rank, RankTables) else read_rank(rank)


def plot_rank_groups(rank, value, grouping="normal_width", ax=None):
    """A value column of a `cellscape rank` file against one grouping (normal_width, normal_depth,
    reduce_width, reduce_depth): a box per group with every cell as a point, the group's mean
    with its 95% t interval, and the association's rho in the title. Returns the Figure."""
    rank = _as_rank(rank)
    fig, axis = _figure_axis(ax, (4.5, 3.4))
    cells = rank.cells
    if value not in cells or grouping not in cells:
        raise PlotInputError(f"the rank file has no column '{value}' or '{grouping}' in its cells table")
    groups = sorted(cells[grouping].unique())
    data = [cells.loc[cells[grouping] == g, value].to_numpy() for g in groups]
    positions = np.arange(len(groups))
    axis.boxplot(data, positions=positions, widths=0.6, showfliers=False,
                 medianprops={"color": "grey"}, boxprops={"color": "grey"})
    jitter = np.random.default_rng(0)  # fixed: the same file draws the same figure
    for position, values in zip(positions, data):
        axis.scatter(position + jitter.uniform(-0.18, 0.18, len(values)), values, s=4, alpha=0.35,
                     color=plt.cm.viridis(0.3), zorder=2)
    rows = rank.groups[(rank.groups["grouping"] == grouping) & (rank.groups["value"] == value)]
    by_group = {row["group"]: row for _, row in rows.iterrows()}
    means = np.array([by_group[g]["mean"] if g in by_group else np.nan for g in groups])
    low = np.array([by_group[g]["ci_low"] if g in by_group else np.nan for g in groups])
    high = np.array([by_group[g]["ci_high"] if g in by_group else np.nan for g in groups])
    _interval_bars(axis, positions, means, low, high)
    axis.scatter(positions, means, color="black", s=18, zorder=4, label="mean, 95% interval")
    counts = [len(d) for d in data]
    labels = [(_width_label(g) if "width" in grouping else f"{g:g}") + f"\nn={n}" for g, n in zip(groups, counts)]
    axis.set_xticks(positions, labels, fontsize=7)
    axis.set(xlabel=grouping.replace("_", " "), ylabel=value)
    association = rank.associations[(rank.associations["metric"] == grouping) & (rank.associations["value"] == value)]
    if len(association):
        row = association.iloc[0]
        axis.set_title(f"rho {row['rho']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}], Holm p "
                       f"{row['p_holm']:.2g}\nwith operations fixed: {row['partial_rho']:+.2f} "
                       f"[{row['partial_ci_low']:+.2f}, {row['partial_ci_high']:+.2f}]", fontsize=8)
    return fig


def plot_rank_associations(rank, value, ax=None):
    """Every metric's Spearman rho against a value column with its 95% bootstrap interval
    (filled: Holm-adjusted p < 0.05), and beside it the partial rho with the operation content
    held fixed (hollow), sorted by |rho|. Returns the Figure."""
    rank = _as_rank(rank)
    rows = rank.associations[rank.associations["value"] == value].copy()
    if rows.empty:
        raise PlotInputError(f"the rank file has no associations with '{value}'")
    rows = rows.iloc[np.argsort(-np.abs(rows["rho"].fillna(0).to_numpy()))[::-1]]
    fig, axis = _figure_axis(ax, (5.5, 0.32 * len(rows) + 1.4))
    y = np.arange(len(rows))
    significant = rows["p_holm"].to_numpy() < 0.05
    axis.errorbar(rows["rho"], y + 0.15, xerr=[rows["rho"] - rows["ci_low"], rows["ci_high"] - rows["rho"]],
                  fmt="none", ecolor="black", elinewidth=1)
    axis.scatter(rows["rho"][significant], (y + 0.15)[significant], color="black", s=18, zorder=3,
                 label="rho (Holm p < 0.05)")
    axis.scatter(rows["rho"][~significant], (y + 0.15)[~significant], facecolors="white", edgecolors="black", s=18,
                 zorder=3, label="rho (not significant)")
    partial = np.isfinite(rows["partial_rho"].to_numpy())
    axis.errorbar(rows["partial_rho"][partial], (y - 0.15)[partial],
                  xerr=[(rows["partial_rho"] - rows["partial_ci_low"])[partial],
                        (rows["partial_ci_high"] - rows["partial_rho"])[partial]],
                  fmt="none", ecolor=plt.cm.viridis(0.6), elinewidth=1)
    axis.scatter(rows["partial_rho"][partial], (y - 0.15)[partial], marker="D", s=14, color=plt.cm.viridis(0.6),
                 zorder=3, label="rho with operations fixed")
    axis.axvline(0, color="grey", linewidth=0.8)
    axis.set_yticks(y, rows["metric"], fontsize=7)
    axis.set(xlabel=f"Spearman's rho with {value} [95% bootstrap interval]")
    axis.legend(fontsize=6, loc="lower right")
    return fig


def rank_figures(path, out_dir):
    """For each value column of a rank file: the value against normal width and depth
    (rank_groups_VALUE) and every metric's rho with its interval (rank_rho_VALUE)."""
    rank = _as_rank(path)
    values = [v for v in str(rank.attributes.get("values", "")).split(",") if v]
    if not values:
        raise PlotInputError(f"{path} names no value columns (attribute 'values')")
    paths = []
    for value in values:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
        plot_rank_groups(rank, value, "normal_width", ax=axes[0])
        plot_rank_groups(rank, value, "normal_depth", ax=axes[1])
        fig.suptitle(f"{value} of {len(rank.cells)} cells by their normal cell's width and depth: boxes, every "
                     "cell, and the mean with its 95% interval", fontsize=9)
        paths += _save(fig, out_dir, f"rank_groups_{value}")
        paths += _save(plot_rank_associations(rank, value), out_dir, f"rank_rho_{value}")
    return paths
