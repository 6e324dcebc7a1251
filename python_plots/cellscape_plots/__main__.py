"""Command line: `.venv/bin/python -m cellscape_plots {study,surface,hessian,gradvar,train,rank} PATH [--out DIR]`."""
import argparse
import pathlib
import sys

COMMANDS = {
    "study": "a study directory (summary.h5 and its cells): every figure into DIR/figures",
    "surface": "a surface file: contours, filled contours, 3D surface, or a 1D curve",
    "hessian": "a Hessian file: eigenvalues and spectral density",
    "gradvar": "a gradient-variance file: noise per model and per-tensor SNR",
    "train": "a checkpoint: its training history",
    "rank": "a `cellscape rank` file: the value against width and depth, and rho per metric",
}


def draw(command, path, out):
    """The command's figures (matplotlib loads here, not at import)."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no window: the command line's choice, not the package's
    from . import figures
    if command == "study":
        return figures.study_figures(path, out)
    return getattr(figures, f"{command}_figures")(path, out or path.parent)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m cellscape_plots", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in COMMANDS.items():
        command = commands.add_parser(name, help=help_text)
        command.add_argument("path", type=pathlib.Path)
        command.add_argument("--out", type=pathlib.Path, help="output directory (default: beside the input, "
                             "or DIR/figures for a study)")
    args = parser.parse_args(argv)
    from .files import PlotInputError
    try:
        paths = draw(args.command, args.path, args.out)
    except PlotInputError as error:
        print(f"cellscape_plots: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cellscape_plots: interrupted: the figures finished before it are complete (each is written under a "
              "temporary name and renamed); run the same command again to draw them all", file=sys.stderr)
        return 130
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
