"""The derived tables docs/findings.md cites, from a study's summary.h5.

    .venv/bin/python scripts/findings_tables.py out/powered [--epoch N]

prints, for the study's last analysis epoch (or --epoch):
  - per population, the cells' means of each metric averaged within each
    normal-cell width group (the groups the findings' tables show), with the
    number of cells per group;
  - per base cell (the name before the first '-'), the same for the metrics
    the verdicts cover, so a reader can see whether one base drives a trend;
  - each metric's spread over seeds within a cell: the median and range over
    cells of max/min of a cell's replicates (positive metrics only);
  - censoring (replicates that never reached the loss threshold) and the
    measured cost per replicate (train and analysis seconds);
  - with --surfaces, per replicate, the test loss at the trained weights
    (the slice's centre), its mean on the slice's border and the median
    gradient variance over the slice, from each replicate's surface file.
Every number comes from the summary's `cells` and `replicates` tables
(cellscape_plots.read_study) or the surface files (read_surface); nothing is
fitted or smoothed."""
import argparse
import pathlib
import sys

import numpy as np
import pandas as pd

from cellscape_plots import read_study, read_surface

PROXIES = ["grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov", "naswot", "zico"]
METRICS = ["train_loss", "train_acc", "test_acc", "epochs_to_threshold", "top_eigenvalue", "trace",
           "gradient_variance", "noise_scale", "basin_fraction", "basin_radius"] + PROXIES


def width_label(width):
    return f"{width:g}c"


def group_means(cells, by):
    """Mean over cells of each metric's cell mean, one row per metric, one column per group of `by`."""
    table = cells[cells["metric"].isin(METRICS)].pivot_table(index="metric", columns=by, values="mean",
                                                             aggfunc="mean")
    return table.reindex([m for m in METRICS if m in table.index])


def seed_spread(replicates):
    rows = []
    for metric in METRICS:
        if metric not in replicates:
            continue
        ratios = []
        for _, group in replicates.groupby("cell"):
            values = group[metric].to_numpy(float)
            values = values[np.isfinite(values)]
            if len(values) >= 2 and (values > 0).all():
                ratios.append(values.max() / values.min())
        if ratios:
            rows.append((metric, len(ratios), np.median(ratios), np.min(ratios), np.max(ratios)))
    return pd.DataFrame(rows, columns=["metric", "cells", "median max/min", "smallest", "largest"])


def proxy_rows(tables, epoch):
    """The zero-cost proxies' rows of the summary at `epoch` (a study with [analysis.proxies]):
    each proxy against width and depth (plain and partial, associations table), and against
    every trained metric (metric_associations table); empty frames without proxies."""
    associations = tables.associations
    associations = associations[(associations["epoch"] == epoch) & associations["metric"].isin(PROXIES)]
    columns = ["population", "metric", "predictor", "controlling", "spearman_rho", "ci_low", "ci_high", "p_value",
               "p_holm", "min_detectable_rho", "n_cells"]
    against_cells = associations[[c for c in columns if c in associations]]
    pairs = tables.metric_associations
    if pairs is None or not len(pairs):
        return against_cells, pd.DataFrame()
    pairs = pairs[(pairs["epoch"] == epoch) & (pairs["metric"].isin(PROXIES) | pairs["other_metric"].isin(PROXIES))]
    pairs = pairs[["population", "metric", "other_metric", "spearman_rho", "ci_low", "ci_high", "p_value", "p_holm",
                   "n_cells"]]
    return against_cells, pairs


def surface_rows(study, replicates, epoch):
    """One row per replicate: the first slice's centre test loss, border mean, median gradient variance."""
    rows = []
    for _, replicate in replicates.iterrows():
        path = pathlib.Path(study) / replicate["directory"] / f"surface-epoch-{epoch:04d}.h5"
        if not path.exists():
            continue
        surface = read_surface(path)
        loss = surface["test_loss"].to_numpy()
        centre = loss[int(np.argmin(np.abs(surface["y"].to_numpy()))), int(np.argmin(np.abs(surface["x"].to_numpy())))]
        border = np.concatenate([loss[0, :], loss[-1, :], loss[1:-1, 0], loss[1:-1, -1]])
        variance = surface["gradient_variance"].to_numpy() if "gradient_variance" in surface else np.array([np.nan])
        rows.append((replicate["cell"], f"{replicate['normal_width']:g}c", replicate["seed"], centre,
                     np.mean(border), np.nanmedian(variance)))
    return pd.DataFrame(rows, columns=["cell", "width", "seed", "loss at w0", "border mean", "median gradvar"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", help="a study directory or its summary.h5")
    parser.add_argument("--epoch", type=int, help="analysis epoch (default: the last)")
    parser.add_argument("--surfaces", action="store_true", help="also the per-replicate surface summary")
    args = parser.parse_args(argv)
    tables = read_study(args.study)
    epoch = args.epoch if args.epoch is not None else int(tables.replicates["epoch"].max())
    replicates = tables.replicates[tables.replicates["epoch"] == epoch].copy()
    if "status" in replicates:
        replicates = replicates[replicates["status"] == "ok"]
    cells = tables.cells[tables.cells["epoch"] == epoch].copy()
    if "population" not in cells:  # summaries before format version 3: one population
        cells["population"] = "all"
    cells["width"] = cells["normal_width"].map(width_label)
    cells["base"] = cells["cell"].str.split("-").str[0]
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    print(f"study {tables.attributes.get('name', '?')}, epoch {epoch}: {replicates['cell'].nunique()} cells, "
          f"{len(replicates)} replicates")
    for population, block in cells.groupby("population", sort=False):
        order = sorted(block["normal_width"].unique())
        counts = block.drop_duplicates("cell").groupby("normal_width")["cell"].count()
        print(f"\npopulation {population}: cell means averaged per normal-cell width "
              f"(cells per group: {', '.join(f'{width_label(w)} {counts[w]}' for w in order)})")
        means = group_means(block, "normal_width")[order]
        means.columns = [width_label(w) for w in order]
        print(means.to_string(float_format=lambda v: f"{v:.4g}"))
        if block["base"].nunique() > 1:
            print(f"\npopulation {population}: per base cell and width (epochs_to_threshold, top_eigenvalue)")
            for metric in ("epochs_to_threshold", "top_eigenvalue"):
                part = block[block["metric"] == metric].pivot_table(index="base", columns="normal_width",
                                                                    values="mean", aggfunc="mean")[order]
                part.columns = [width_label(w) for w in order]
                print(f"{metric}:\n{part.to_string(float_format=lambda v: f'{v:.4g}')}")
    print("\nspread over seeds within a cell (max/min of its replicates):")
    print(seed_spread(replicates).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if "censored" in replicates:
        censored = replicates["censored"].astype(bool)
        print(f"\ncensored (never reached the loss threshold): {int(censored.sum())} of {len(replicates)} replicates "
              f"in {replicates.loc[censored, 'cell'].nunique()} cells")
    if {"train_seconds", "analysis_seconds"} <= set(replicates):
        train, analysis = replicates["train_seconds"], replicates["analysis_seconds"]
        print(f"cost per replicate: train {train.mean():.1f} s, analyses {analysis.mean():.1f} s (means), "
              f"total {(train + analysis).sum() / 3600:.2f} replicate-hours")
    if "last_epoch_share" in replicates:
        share = replicates["last_epoch_share"].to_numpy(float)
        print(f"last epoch's share of the training-loss decrease: median {np.nanmedian(share):.3f}, "
              f"90th percentile {np.nanpercentile(share, 90):.3f}")
    against_cells, pairs = proxy_rows(tables, epoch)
    if len(against_cells):
        number = lambda v: f"{v:.3g}"  # noqa: E731
        print("\nzero-cost proxies of the initial networks against width and depth (associations; p_holm over the "
              "proxies' rows):")
        print(against_cells.to_string(index=False, float_format=number))
        if len(pairs):
            print("\nzero-cost proxies against the trained metrics (metric_associations; p_holm over the pairs with "
                  "a proxy):")
            print(pairs.to_string(index=False, float_format=number))
    if args.surfaces:
        print("\nsurfaces (first slice of each replicate):")
        print(surface_rows(args.study, replicates, epoch).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
