"""cellscape's files as the data structures notebooks use: a study's tables
as tidy pandas DataFrames, a surface as an xarray Dataset. Every name is
the one docs/hdf5-schema.md documents."""
import pathlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from .files import CellscapeFile, PlotInputError

# The statistics of a metric in summary.h5's cells table: cells/{metric}_{part}.
CELL_PARTS = ("mean", "std", "ci_low", "ci_high")


@dataclass
class StudyTables:
    """A study's summary.h5 as DataFrames.

    replicates           one row per (cell, seed, analysis epoch), every metric a column
    cells                long form: one row per (cell, epoch, metric) with n, mean, std, ci_low, ci_high
    associations         one row per (epoch, population, metric, predictor, controlling)
    metric_associations  one row per (epoch, population, metric, other_metric); empty before summary version 3
    mediation            one row per (epoch, population, mediator); empty before summary version 3
    parts                one row per (replicate, epoch, part of the network) with the part's top eigenvalue,
                         trace share and gradient variance; empty unless the study set by_part
    attributes           the file's root attributes (name, loss_threshold, alpha, ...)
    """
    replicates: pd.DataFrame
    cells: pd.DataFrame
    associations: pd.DataFrame
    metric_associations: pd.DataFrame
    mediation: pd.DataFrame
    parts: pd.DataFrame = field(default_factory=pd.DataFrame)
    attributes: dict = field(default_factory=dict)


def _frame(f, group):
    """A summary table (a group of equally long 1-D datasets) as a DataFrame, columns in file order."""
    if not f.has(group):
        return pd.DataFrame()
    table = f.table(group)
    return pd.DataFrame({name: values for name, values in table.items()})


def _long_cells(wide):
    """summary.h5's cells table ({metric}_{part} columns) in long form: one row per (cell, epoch, metric)."""
    metrics = [c[: -len("_mean")] for c in wide.columns if c.endswith("_mean")]
    statistics = {f"{metric}_{part}" for metric in metrics for part in CELL_PARTS}
    keys = [c for c in wide.columns if c not in statistics]
    blocks = []
    for metric in metrics:
        block = wide[keys].copy()
        block["metric"] = metric
        for part in CELL_PARTS:
            block[part] = wide[f"{metric}_{part}"].to_numpy()
        blocks.append(block)
    if not blocks:
        return wide[keys].assign(metric=pd.Series(dtype=str))
    return pd.concat(blocks, ignore_index=True)


def read_study(directory):
    """The tables of a study directory's summary.h5 (or of the summary.h5 given) as StudyTables."""
    path = pathlib.Path(directory)
    if path.is_dir():
        path = path / "summary.h5"
    with CellscapeFile(path, "cellscape-study") as f:
        if not f.has("replicates"):
            raise PlotInputError(f"{path} was written by an older cellscape (summary version 1, without tables): "
                                 "rerun `cellscape study` on its configuration to rewrite the summary")
        attributes = {name: f.attribute(name) for name in f.file.attrs}
        return StudyTables(replicates=_frame(f, "replicates"), cells=_long_cells(_frame(f, "cells")),
                           associations=_frame(f, "associations"),
                           metric_associations=_frame(f, "metric_associations"), mediation=_frame(f, "mediation"),
                           parts=_frame(f, "parts"), attributes=attributes)


def read_surface(path, directions=False):
    """A surface file as an xarray Dataset: coordinates x (and y for a 2D slice), a data variable per
    evaluated value (train_loss, test_acc, gradient_variance, ..., dims (y, x) as the file stores them),
    the completion mask as `completed`, and the file's root attributes as attrs. With directions=True,
    the two directions' tensors too, as variables xdirection/NAME and ydirection/NAME (dims of their own)."""
    with CellscapeFile(path, "cellscape-surface") as f:
        x = f.array("xcoordinates")
        two_dimensional = f.has("ycoordinates")
        coords = {"x": x}
        dims = ("x",)
        if two_dimensional:
            coords["y"] = f.array("ycoordinates")
            dims = ("y", "x")
        shape = tuple(len(coords[d]) for d in dims)
        variables = {}
        for name in sorted(f.file.keys()):
            item = f.file[name]
            if not hasattr(item, "shape") or name in ("xcoordinates", "ycoordinates"):
                continue
            values = np.asarray(item[()])
            if values.shape == shape:
                variables[name] = (dims, values.astype(bool) if name == "completed" else values)
        if directions:
            for group in ("xdirection", "ydirection"):
                if f.has(group):
                    for name, tensor in f.file[group].items():
                        values = np.asarray(tensor[()])
                        variables[f"{group}/{name}"] = ([f"{group}/{name}/dim_{i}" for i in range(values.ndim)],
                                                        values)
        attributes = {name: f.attribute(name) for name in f.file.attrs}
    return xr.Dataset(variables, coords=coords, attrs=attributes)


@dataclass
class RankTables:
    """A `cellscape rank` file (format cellscape-rank) as DataFrames.

    cells         one row per cell: name, genotype, its value columns, structural metrics, operation
                  counts (operations_{normal,reduce}_OP) and, with proxies, each proxy's mean over seeds
                  (PROXY, PROXY_std, PROXY_ci_low, PROXY_ci_high, PROXY_n)
    associations  one row per (metric, value): rho with ci_low/ci_high, p_value, p_holm, kendall_tau,
                  partial_rho (operation content held fixed) with its interval and p-values, top_overlap
    groups        one row per (grouping, group, value): n, mean, std, ci_low, ci_high
    bad_rows      the skipped rows: line, reason
    proxy_seeds   one row per (cell, seed) with each proxy's score; empty without proxies
    attributes    the file's root attributes (source, values, network, proxies, seeds, ...)
    """
    cells: pd.DataFrame
    associations: pd.DataFrame
    groups: pd.DataFrame
    bad_rows: pd.DataFrame
    proxy_seeds: pd.DataFrame
    attributes: dict = field(default_factory=dict)


def read_rank(path):
    """A cellscape-rank file as RankTables."""
    with CellscapeFile(path, "cellscape-rank") as f:
        attributes = {name: f.attribute(name) for name in f.file.attrs}
        return RankTables(cells=_frame(f, "cells"), associations=_frame(f, "associations"),
                          groups=_frame(f, "groups"), bad_rows=_frame(f, "bad_rows"),
                          proxy_seeds=_frame(f, "proxy_seeds"), attributes=attributes)
