#!/usr/bin/env python3
"""Zero-cost proxies computed by their reference code itself, for
tests/cli/test_proxies_reference_code.py (issue 41, item 7).

tests/cli/test_proxies_reference.py compares `cellscape proxies` with a
reimplementation of the reference code. This script runs the reference code's
own functions, imported unmodified from the authors' repositories, and writes
the numbers to a JSON fixture that the test (which has neither repository in
CI) compares `cellscape proxies` against:

- the proxies: SamsungLabs/zero-cost-nas, foresight/pruners/predictive.py
  find_measures with its measures grad_norm, snip, grasp, fisher, synflow,
  jacob_cov (foresight/pruners/measures/*.py);
- the network: quark0/darts, cnn/model.py NetworkCIFAR with cnn/operations.py
  (cnn/genotypes.py's Genotype), holding the initial weights (epoch-0000.h5) of
  a `cellscape train` run of each cell, loaded by name;
- the batch: the first 64 training images of that run, normalized as cellscape
  does (bench/peers/darts_torch.py evaluation_images, which checks the subset
  against the checkpoint's train_indices_hash).

Nothing of either repository is copied into this project: pass the paths of
the fetched repositories (a bare git directory, a work tree or an unpacked
tree). Their files are not edited; what the network needs to run here is
applied from outside (see SHIMS, recorded in the fixture).

Usage:
    .venv/bin/python scripts/reference/proxies_reference_fixture.py \\
        --zero-cost-nas /path/to/SamsungLabs+zero-cost-nas/repo \\
        --darts /path/to/quark0+darts/repo/.git \\
        --cellscape build/tools/cellscape \\
        --out tests/cli/fixtures/proxies_reference_code.json
"""
import argparse
import contextlib
import datetime
import io
import json
import os
import pathlib
import platform
import shlex
import subprocess
import sys
import tempfile
import types
import warnings

import h5py
import numpy as np
import torch
import torch.nn as nn

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "peers"))
import darts_torch  # noqa: E402

CELLS = ("DARTS_V2", "DARTS_V2:widest", "ENAS")
INIT_CHANNELS, LAYERS, SEED, SAMPLES = 8, 5, 11, 64
MEASURES = ("grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov")


def train_arguments(cell, out):
    """The `cellscape train` run whose epoch-0000.h5 is scored; the test runs the same."""
    return ["train", "--cell", cell, "--dataset", "fashion-mnist", "--train-size", "128", "--test-size", "32",
            "--batch-size", "32", "--init-channels", str(INIT_CHANNELS), "--layers", str(LAYERS), "--epochs", "1",
            "--threads", "1", "--seed", str(SEED), "--checkpoint-epochs", "0", "--out", str(out)]


SHIMS = [
    "torchvision is not installed here; darts/cnn/utils.py imports torchvision.transforms at module level "
    "(used only by its data-augmentation helpers, never by the network), so an empty stand-in module "
    "`torchvision.transforms` is put in sys.modules before importing darts' model.py (for utils.drop_path, "
    "which is inactive: drop_path_prob = 0)",
    "NetworkCIFAR is subclassed (model.py unchanged): its stem's first convolution is hard-wired to 3 input "
    "channels, and is replaced by the same nn.Conv2d(1, 3C, 3, padding=1, bias=False) for Fashion-MNIST's "
    "single channel; forward returns the logits alone (NetworkCIFAR returns (logits, logits_aux), which "
    "find_measures' loss_fn and jacob_cov cannot take); drop_path_prob = 0.0 is set as DARTS' train.py sets it",
    "Cell.__init__ prints its channel counts; stdout is redirected while the network is built",
    "the float64 scores: the network and the images are cast to float64 and torch.set_default_dtype(torch.float64) "
    "is set, so that fisher's p_utils.reshape_elements (torch.Tensor(shape).fill_(v)) fills float64, as every "
    "other step; the float32 scores use torch's defaults (float32, contiguous): the reference as it runs",
    "find_measures is given a one-batch list [(images, labels)] as its dataloader, dataload_info "
    "('random', 1, 10), device cpu",
]


# ---------------------------------------------------------------- the repositories

def git(arguments, repository):
    return subprocess.run(["git", *arguments], cwd=repository, capture_output=True, text=True, check=True).stdout


def source_tree(path, scratch, name):
    """(directory holding the repository's files, commit or None, dirty) for a bare git directory, a
    work tree or a plain tree. A git directory's HEAD is unpacked (git archive) into scratch."""
    path = pathlib.Path(path).resolve()
    if (path / "HEAD").is_file() and (path / "objects").is_dir():  # a git directory (bare, or a .git)
        commit = subprocess.run(["git", "--git-dir", str(path), "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        target = pathlib.Path(scratch) / name
        target.mkdir()
        archive = subprocess.run(["git", "--git-dir", str(path), "archive", "HEAD"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
        return target, commit, False
    if (path / ".git").exists():
        commit = git(["rev-parse", "HEAD"], path).strip()
        return path, commit, bool(git(["status", "--porcelain"], path).strip())
    return path, None, None


def stub_torchvision():
    try:
        import torchvision.transforms  # noqa: F401
        return False
    except ImportError:
        torchvision = types.ModuleType("torchvision")
        torchvision.transforms = types.ModuleType("torchvision.transforms")
        sys.modules["torchvision"] = torchvision
        sys.modules["torchvision.transforms"] = torchvision.transforms
        return True


def import_references(zero_cost_nas, darts):
    sys.path.insert(0, str(zero_cost_nas))
    sys.path.insert(0, str(darts / "cnn"))
    stubbed = stub_torchvision()
    from foresight.pruners import predictive  # noqa: E402
    import genotypes  # noqa: E402  (darts/cnn)
    import model  # noqa: E402  (darts/cnn)
    for module, root in ((predictive, zero_cost_nas), (model, darts), (genotypes, darts)):
        if not pathlib.Path(module.__file__).resolve().is_relative_to(pathlib.Path(root).resolve()):
            raise RuntimeError(f"{module.__name__} was imported from {module.__file__}, not from {root}")
    return predictive, genotypes, model, stubbed


# ---------------------------------------------------------------- the network

def darts_network(model, genotypes, checkpoint):
    """The DARTS authors' NetworkCIFAR with the checkpoint's parameters and buffers (strictly, by name), in
    train mode (as a freshly built network is, where NAS scores it), float32."""
    genotype_dict, config, _ = darts_torch.read_checkpoint_config(checkpoint)
    if config["auxiliary"]:
        raise ValueError("the checkpoint has an auxiliary head; cellscape scores the classifier alone")
    genotype = genotypes.Genotype(**genotype_dict)
    channels, height, width = config["input_shape"]

    class Network(model.NetworkCIFAR):
        def __init__(self):
            with contextlib.redirect_stdout(io.StringIO()):
                super().__init__(config["init_channels"], config["classes"], config["layers"], False, genotype)
            self.stem[0] = nn.Conv2d(channels, self.stem[0].out_channels, 3, padding=1, bias=False)
            self.drop_path_prob = 0.0

        def forward(self, x):
            logits, _ = super().forward(x)
            return logits

    net = Network()
    with h5py.File(checkpoint, "r") as f:
        for group in ("parameters", "buffers"):
            # cellscape names a cell's edge list `ops`, DARTS `_ops`; every other name is the same.
            darts_torch.load_strict(net, {name.replace(".ops.", "._ops."): f[group][name][()] for name in f[group]},
                                    group)
    return net.train()


def check_against_twin(net, checkpoint, images):
    """The authors' network and cellscape's twin compute the same logits (float64, train mode)."""
    twin = darts_torch.load_checkpoint(checkpoint, dtype=torch.float64).train()
    with torch.no_grad():
        ours, theirs = twin(images.double()), net.double()(images.double())
    difference = float((ours - theirs).abs().max() / theirs.abs().max())
    if not difference < 1e-12:
        raise RuntimeError(f"{checkpoint}: NetworkCIFAR and the twin differ by {difference:.3g} (relative)")
    return difference


def jacobian_ratio(net, images):
    """||d(sum of every logit of the batch)/dx|| / ||d(sum of sample 0's logits)/dx||, float64, train mode:
    the batch gradient jacob_cov's get_batch_jacobian takes against one sample's share of it. Where every
    path into the classifier ends in a train-mode BatchNorm, the batch sum of the logits does not depend on
    the input, and the ratio is rounding (~1e-15): jacob_cov then correlates noise."""
    x = images.double().clone().requires_grad_(True)
    y = net.double()(x)
    (batch,) = torch.autograd.grad(y.sum(), x, retain_graph=True)
    (one,) = torch.autograd.grad(y[0].sum(), x)
    return float(batch.norm() / one.norm())


# ---------------------------------------------------------------- the measures

def reference_scores(predictive, net, images, labels, dtype):
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        net = net.to(dtype)
        inputs = images.to(dtype).contiguous().clone()
        scores = predictive.find_measures(net, [(inputs, labels.clone())], ("random", 1, 10), torch.device("cpu"),
                                          measure_names=list(MEASURES))
    finally:
        torch.set_default_dtype(default)
    out = {}
    for name in MEASURES:
        value = complex(scores[name])  # jacob_cov: np.linalg.eig may return a complex array
        if abs(value.imag) > 1e-9 * abs(value.real):
            raise RuntimeError(f"{name} has an imaginary part {value.imag}")
        out[name] = value.real
    return out


def weight_attributes(checkpoint):
    with h5py.File(checkpoint, "r") as f:
        def text(name):
            value = f.attrs[name]
            return value.decode() if isinstance(value, bytes) else str(value)
        return {name: text(name) for name in ("weights_hash", "buffers_hash", "train_indices_hash", "genotype")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zero-cost-nas", required=True, help="SamsungLabs/zero-cost-nas (git directory or tree)")
    parser.add_argument("--darts", required=True, help="quark0/darts (git directory or tree)")
    parser.add_argument("--cellscape", required=True, help="the cellscape binary (trains the checkpoints)")
    parser.add_argument("--out", required=True, help="the JSON fixture to write")
    parser.add_argument("--work", help="keep the runs here (default: a temporary directory)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    # fisher.py hooks nn.Identity with register_backward_hook; torch warns that such a hook misses some
    # grad_input. fisher reads grad_output[0] only, which the hook gets whole.
    warnings.filterwarnings("ignore", message="Using a non-full backward hook", category=FutureWarning)

    with tempfile.TemporaryDirectory() as scratch:
        zc_tree, zc_commit, zc_dirty = source_tree(args.zero_cost_nas, scratch, "zero-cost-nas")
        darts_tree, darts_commit, darts_dirty = source_tree(args.darts, scratch, "darts")
        predictive, genotypes, model, stubbed = import_references(zc_tree, darts_tree)
        work = pathlib.Path(args.work) if args.work else pathlib.Path(scratch) / "runs"
        work.mkdir(parents=True, exist_ok=True)
        version = subprocess.run([args.cellscape, "--version"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        cells = {}
        for cell in CELLS:
            run = work / cell.replace(":", "_")
            if run.exists():
                raise SystemExit(f"{run} exists; give an empty --work")
            subprocess.run([args.cellscape, *train_arguments(cell, run)], check=True, capture_output=True)
            checkpoint = run / "epoch-0000.h5"
            images, labels = darts_torch.evaluation_images(checkpoint, SAMPLES, dtype=torch.float32)
            entry = weight_attributes(checkpoint)
            if cell == "DARTS_V2":  # cellscape's DARTS_V2 is the authors' genotype
                if genotypes.Genotype(**darts_torch.parse_genotype(entry["genotype"])) != genotypes.DARTS_V2:
                    raise RuntimeError("cellscape's DARTS_V2 is not darts/cnn/genotypes.py's DARTS_V2")
            net = darts_network(model, genotypes, checkpoint)
            entry["twin_logits_relative_difference"] = check_against_twin(darts_network(model, genotypes, checkpoint),
                                                                          checkpoint, images)
            entry["labels"] = labels.tolist()
            entry["float64"] = reference_scores(predictive, darts_network(model, genotypes, checkpoint), images,
                                                labels, torch.float64)
            entry["float32"] = reference_scores(predictive, net, images, labels, torch.float32)
            entry["jacobian_ratio"] = jacobian_ratio(darts_network(model, genotypes, checkpoint), images)
            cells[cell] = entry
            print(f"{cell}: {json.dumps({k: entry[k] for k in ('float64', 'jacobian_ratio')})}", file=sys.stderr)

    fixture = {
        "description": "zero-cost proxies by SamsungLabs/zero-cost-nas's own find_measures on quark0/darts's "
                       "NetworkCIFAR holding the initial weights (epoch-0000.h5) of `cellscape train` runs; "
                       f"the first {SAMPLES} training images (sequential), BatchNorm in train mode",
        "provenance": {
            "zero_cost_nas": {"repository": "https://github.com/SamsungLabs/zero-cost-nas", "commit": zc_commit,
                              "local_changes": zc_dirty,
                              "functions": "foresight/pruners/predictive.py find_measures; "
                                           "foresight/pruners/measures/{" + ",".join(MEASURES) + "}.py"},
            "darts": {"repository": "https://github.com/quark0/darts", "commit": darts_commit,
                      "local_changes": darts_dirty,
                      "functions": "cnn/model.py NetworkCIFAR, cnn/operations.py, cnn/genotypes.py Genotype"},
            "shims": SHIMS if stubbed else SHIMS[1:],
            "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "threads": 1, "cellscape_version": version,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable, ROOT)
                                                          if sys.executable.startswith(str(ROOT)) else sys.executable,
                                                          os.path.relpath(__file__, ROOT), *sys.argv[1:]]),
        },
        "setup": {"train": ["cellscape", *train_arguments("CELL", "DIR")], "checkpoint": "DIR/epoch-0000.h5",
                  "samples": SAMPLES, "split": "train", "sampling": "sequential", "bn_mode": "train",
                  "jacobian_ratio": "||d(sum of every logit of the batch)/dx|| / ||d(sum of sample 0's logits)/dx||, "
                                    "float64, train mode, the authors' network"},
        "cells": cells,
    }
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(fixture, indent=2) + "\n")


if __name__ == "__main__":
    main()
