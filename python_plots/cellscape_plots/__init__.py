"""Figures from cellscape's HDF5 files (docs/hdf5-schema.md), with h5py, numpy
and matplotlib only. Run as `/usr/bin/python3 -m cellscape_plots COMMAND ...`."""

from .files import PlotInputError  # noqa: F401
