"""Compares two devices' results of scripts/gpu-check.sh: the same float64
computations from the same checkpoint, in REFERENCE and CANDIDATE, each a
folder holding hessian.json (`cellscape hessian --json`), gradvar.h5 and
surface.h5.

    python scripts/gpu_check_compare.py REFERENCE CANDIDATE [--names cpu,cuda] [--report FILE]

Prints one line per quantity and writes a JSON report. Exit status: 0 when
every quantity agrees within its tolerance, 1 when one does not, 2 when a
file is missing or unreadable.

Tolerances (relative): both devices compute in float64 and differ only in
the order of their sums (cuDNN chooses its own algorithms), so losses,
accuracies, gradient norms and variances agree to about 1e-13; 1e-9 leaves
room for long sums. The top eigenvalue comes from Lanczos run to a Ritz
residual of 1e-8 from the same seeded start on each device: 1e-6.
"""
import argparse
import json
import math
import pathlib
import sys

import h5py
import numpy as np

VALUE_TOLERANCE = 1e-9
EIGENVALUE_TOLERANCE = 1e-6


class MissingResult(Exception):
    pass


def relative_difference(reference, candidate, scale=None):
    """|a - b| / max(|a|, scale); NaN in exactly one of them is infinitely different."""
    if math.isnan(reference) or math.isnan(candidate):
        return 0.0 if math.isnan(reference) and math.isnan(candidate) else math.inf
    denominator = max(abs(reference), scale if scale is not None else 0.0, 1e-300)
    return abs(reference - candidate) / denominator


def load(folder):
    folder = pathlib.Path(folder)
    try:
        hessian = json.loads((folder / "hessian.json").read_text())
        with h5py.File(folder / "gradvar.h5", "r") as f:
            gradvar = {name: np.asarray(f[name][()], dtype=np.float64)
                       for name in ("total_variance", "gradient_norm", "tensor_gradient_norm")}
        with h5py.File(folder / "surface.h5", "r") as f:
            surface = {name: np.asarray(f[name][()], dtype=np.float64).ravel()
                       for name in ("xcoordinates", "test_loss", "test_acc")}
    except (OSError, KeyError, ValueError) as error:
        raise MissingResult(f"{folder}: {error}") from error
    return hessian, gradvar, surface


def compare(reference_folder, candidate_folder):
    """The list of checks: quantity, both values, relative difference, tolerance, ok."""
    (h1, g1, s1), (h2, g2, s2) = load(reference_folder), load(candidate_folder)
    checks = []

    def check(quantity, a, b, tolerance, scale=None):
        difference = relative_difference(float(a), float(b), scale)
        checks.append({"quantity": quantity, "reference": float(a), "candidate": float(b),
                       "relative_difference": difference, "tolerance": tolerance, "ok": difference <= tolerance})

    check("loss", h1["loss"], h2["loss"], VALUE_TOLERANCE)
    check("accuracy", h1["accuracy"], h2["accuracy"], VALUE_TOLERANCE)
    check("top Hessian eigenvalue", h1["eigenvalues"][0], h2["eigenvalues"][0], EIGENVALUE_TOLERANCE)
    check("gradient variance", g1["total_variance"][0], g2["total_variance"][0], VALUE_TOLERANCE)
    check("gradient norm", g1["gradient_norm"][0], g2["gradient_norm"][0], VALUE_TOLERANCE)
    # Per-tensor norms of the gradient, relative to the whole gradient's norm
    # (a tensor whose gradient is tiny is compared at the scale of the rest).
    norms1, norms2 = g1["tensor_gradient_norm"][0], g2["tensor_gradient_norm"][0]
    if norms1.shape != norms2.shape:
        raise MissingResult(f"the gradients have {norms1.size} and {norms2.size} tensors")
    scale = float(g1["gradient_norm"][0])
    for i, (a, b) in enumerate(zip(norms1, norms2)):
        check(f"gradient norm of tensor {i}", a, b, VALUE_TOLERANCE, scale)
    if not np.array_equal(s1["xcoordinates"], s2["xcoordinates"]):
        raise MissingResult("the two surfaces have different x coordinates")
    for x, a, b in zip(s1["xcoordinates"], s1["test_loss"], s2["test_loss"]):
        check(f"surface test loss at x={x:g}", a, b, VALUE_TOLERANCE)
    for x, a, b in zip(s1["xcoordinates"], s1["test_acc"], s2["test_acc"]):
        check(f"surface test accuracy at x={x:g}", a, b, VALUE_TOLERANCE)
    return checks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference")
    parser.add_argument("candidate")
    parser.add_argument("--names", default="reference,candidate", help="labels of the two, e.g. cpu,cuda")
    parser.add_argument("--report", help="write the checks as JSON here")
    args = parser.parse_args(argv)
    names = args.names.split(",")
    if len(names) != 2:
        parser.error("--names takes two labels separated by a comma")
    try:
        checks = compare(args.reference, args.candidate)
    except MissingResult as error:
        print(f"gpu_check_compare: cannot compare: {error}", file=sys.stderr)
        return 2
    ok = all(c["ok"] for c in checks)
    if args.report:
        pathlib.Path(args.report).write_text(json.dumps({"names": names, "ok": ok, "checks": checks}, indent=2))
    for c in checks:
        if c["ok"] and c["quantity"].startswith("gradient norm of tensor"):
            continue  # one line for all tensors below
        print(f"{'ok  ' if c['ok'] else 'FAIL'} {c['quantity']:36} {names[0]} {c['reference']:.12g}  "
              f"{names[1]} {c['candidate']:.12g}  rel. diff {c['relative_difference']:.2e} "
              f"(tolerance {c['tolerance']:g})")
    tensors = [c for c in checks if c["quantity"].startswith("gradient norm of tensor")]
    worst = max(tensors, key=lambda c: c["relative_difference"])
    print(f"{'ok  ' if all(c['ok'] for c in tensors) else 'FAIL'} gradient norms of {len(tensors)} tensors: "
          f"worst rel. diff {worst['relative_difference']:.2e} (tolerance {VALUE_TOLERANCE:g})")
    print("all quantities agree" if ok else "some quantities DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
