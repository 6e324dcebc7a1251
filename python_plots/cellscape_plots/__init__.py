"""cellscape's HDF5 files (docs/hdf5-schema.md) for notebooks and figures:
read_study and read_surface give pandas DataFrames and xarray Datasets;
plot_metric, plot_top_eigenvalues, plot_loss_curves, plot_mediation and
plot_surface draw on an `ax=` and return the Figure; `.venv/bin/python -m
cellscape_plots COMMAND ...` writes every figure of a file or study."""

from .figures import (Study, plot_loss_curves, plot_mediation, plot_metric, plot_surface,  # noqa: F401
                      plot_top_eigenvalues)
from .files import PlotInputError  # noqa: F401
from .tables import StudyTables, read_study, read_surface  # noqa: F401
