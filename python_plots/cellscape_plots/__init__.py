"""cellscape's HDF5 files (docs/hdf5-schema.md) for notebooks and figures:
read_study, read_rank and read_surface give pandas DataFrames and xarray Datasets;
plot_metric, plot_top_eigenvalues, plot_loss_curves, plot_mediation and
plot_surface draw on an `ax=` and return the Figure; `.venv/bin/python -m
cellscape_plots COMMAND ...` writes every figure of a file or study.

The names are imported when first used, so the command line starts (and
stops on Ctrl-C) without loading matplotlib, pandas and xarray first."""
import importlib

_WHERE = {
    "Study": "figures", "plot_loss_curves": "figures", "plot_mediation": "figures", "plot_metric": "figures",
    "plot_surface": "figures", "plot_top_eigenvalues": "figures",
    "PlotInputError": "files",
    "StudyTables": "tables", "read_study": "tables", "read_surface": "tables",
    "RankTables": "tables", "read_rank": "tables", "plot_rank_groups": "figures", "plot_rank_associations": "figures",
}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module 'cellscape_plots' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value
