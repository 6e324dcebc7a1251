"""Reading cellscape files by their documented names only, with errors that
say which file lacks what, instead of tracebacks."""
import pathlib

import h5py
import numpy as np


class PlotInputError(Exception):
    """A file is missing, is not the expected kind, or lacks a documented name."""


class CellscapeFile:
    """An open cellscape HDF5 file of one documented `format`."""

    def __init__(self, path, expected_format):
        self.path = pathlib.Path(path)
        if not self.path.exists():
            raise PlotInputError(f"{self.path} does not exist")
        try:
            self.file = h5py.File(self.path, "r")
        except OSError as error:
            raise PlotInputError(f"{self.path} is not a readable HDF5 file ({error})") from None
        found = self.file.attrs.get("format")
        if isinstance(found, bytes):
            found = found.decode()
        if found != expected_format:
            self.file.close()
            raise PlotInputError(f"{self.path} is a {found or 'non-cellscape'} file, not {expected_format}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def has(self, name):
        return name in self.file

    def array(self, name):
        if name not in self.file:
            raise PlotInputError(f"{self.path} has no dataset '{name}' (see docs/hdf5-schema.md)")
        return np.asarray(self.file[name][()])

    def strings(self, name):
        return [value.decode() if isinstance(value, bytes) else str(value) for value in self.array(name)]

    def attribute(self, name, default=None):
        if name not in self.file.attrs:
            if default is not None:
                return default
            raise PlotInputError(f"{self.path} has no attribute '{name}' (see docs/hdf5-schema.md)")
        value = self.file.attrs[name]
        return value.decode() if isinstance(value, bytes) else value

    def table(self, group, required=()):
        """A table stored as a group of equally long 1-D datasets, by column name:
        strings as str arrays, numbers as stored; `required` columns must exist."""
        names = self.members(group)
        for name in required:
            if name not in names:
                raise PlotInputError(f"{self.path} has no dataset '{group}/{name}' (see docs/hdf5-schema.md)")
        columns = {name: self._column(f"{group}/{name}") for name in names}
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            raise PlotInputError(f"{self.path}: the columns of '{group}' differ in length ({sorted(lengths)})")
        return columns

    def _column(self, name):
        dataset = self.file[name]
        if h5py.check_string_dtype(dataset.dtype) is not None:
            return np.array(dataset.asstr()[()], dtype=str)
        return np.asarray(dataset[()])

    def members(self, group):
        if group not in self.file:
            raise PlotInputError(f"{self.path} has no group '{group}' (see docs/hdf5-schema.md)")
        return sorted(self.file[group])
