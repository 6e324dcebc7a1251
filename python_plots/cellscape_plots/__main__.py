"""Command line: `.venv/bin/python -m cellscape_plots {study,surface,hessian,gradvar,train} PATH [--out DIR]`."""
import argparse
import pathlib
import sys

import matplotlib

from .figures import gradvar_figures, hessian_figures, study_figures, surface_figures, train_figures
from .files import PlotInputError

COMMANDS = {
    "study": ("a study directory (summary.h5 and its cells): every figure into DIR/figures", study_figures),
    "surface": ("a surface file: contours, filled contours, 3D surface, or a 1D curve", surface_figures),
    "hessian": ("a Hessian file: eigenvalues and spectral density", hessian_figures),
    "gradvar": ("a gradient-variance file: noise per model and per-tensor SNR", gradvar_figures),
    "train": ("a checkpoint: its training history", train_figures),
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m cellscape_plots", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, _) in COMMANDS.items():
        command = commands.add_parser(name, help=help_text)
        command.add_argument("path", type=pathlib.Path)
        command.add_argument("--out", type=pathlib.Path, help="output directory (default: beside the input, "
                             "or DIR/figures for a study)")
    args = parser.parse_args(argv)
    matplotlib.use("Agg")  # files only, no window: the command line's choice, not the package's
    draw = COMMANDS[args.command][1]
    try:
        if args.command == "study":
            paths = draw(args.path, args.out)
        else:
            paths = draw(args.path, args.out or args.path.parent)
    except PlotInputError as error:
        print(f"cellscape_plots: error: {error}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
