"""The PyTorch twin of cellscape's DARTS network (bench/peers/darts_torch.py),
which the peer benchmarks (PyHessian, a loss-landscape loop) run on, computes
the same function as cellscape: a checkpoint trained by `cellscape train`,
loaded into the twin, gives cellscape's loss on the same images and the same
top Hessian eigenvalue, computed here independently (PyTorch double
backpropagation, ARPACK)."""
import json
import pathlib
import sys

import h5py
import numpy as np
import pytest
import torch
from scipy.sparse.linalg import LinearOperator, eigsh

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "bench" / "peers"))
import darts_torch  # noqa: E402

# Every operation of the DARTS space once per cell, 'none' and a stride-2
# skip_connect (a FactorizedReduce edge) included; DARTS_V2 itself has neither.
ALL_OPERATIONS = ("Genotype(normal=[('avg_pool_3x3', 0), ('sep_conv_5x5', 1), ('dil_conv_5x5', 0), "
                  "('conv_7x1_1x7', 2), ('sep_conv_7x7', 1), ('none', 3), ('skip_connect', 0), ('max_pool_3x3', 4)], "
                  "normal_concat=[2, 3, 4, 5], reduce=[('skip_connect', 0), ('avg_pool_3x3', 1), "
                  "('conv_7x1_1x7', 0), ('sep_conv_5x5', 2), ('dil_conv_5x5', 1), ('none', 0), ('sep_conv_7x7', 3), "
                  "('max_pool_3x3', 2)], reduce_concat=[2, 3, 4, 5])")

SAMPLES = 32

# Tolerances. The twin's images are bitwise cellscape's (same subset, same
# float32 normalization, checked through the checkpoint's index hash), so in
# float64 the two losses differ only by rounding: cellscape folds eval-mode
# BatchNorm into the convolutions, runs channels-last kernels and its own
# convolution derivatives, each a reordering of float64 sums (relative error
# ~1e-16 per operation, ~1e-14 through the network). 1e-11 leaves a 1000x
# margin, yet one float32 ulp in one input pixel, or a BatchNorm eps of
# 1.01e-5 instead of 1e-5, moves the loss by more than 1e-9.
LOSS_RTOL_FLOAT64 = 1e-11
# float32: both accumulate ~30 layers of float32 rounding in different orders.
LOSS_RTOL_FLOAT32 = 1e-5
# Both eigensolvers run to a relative tolerance of 1e-10 (cellscape's --tol on
# its error estimate, ARPACK's tol on the residual, which bounds the distance
# to an eigenvalue); the HVPs themselves agree to ~1e-13. 1e-8 leaves a 100x
# margin.
EIGENVALUE_RTOL = 1e-8


@pytest.fixture(scope="module")
def checkpoints(cellscape, tmp_path_factory):
    """One short epoch of DARTS_V2 and of the all-operations cell, each a tiny network."""
    out = {}
    for name, cell in (("darts_v2", "DARTS_V2"), ("all_operations", ALL_OPERATIONS)):
        run = tmp_path_factory.mktemp(name)
        cellscape("train", "--cell", cell, "--dataset", "fashion-mnist", "--train-size", "128", "--test-size", "32",
                  "--batch-size", "32", "--init-channels", "4", "--layers", "3", "--epochs", "1", "--threads", "1",
                  "--seed", "7", "--out", str(run))
        out[name] = run / "epoch-0001.h5"
    return out


def cellscape_hessian(cellscape, checkpoint, dtype, *extra):
    return json.loads(cellscape("hessian", "--checkpoint", str(checkpoint), "--samples", str(SAMPLES), "--sampling",
                                "sequential", "--split", "train", "--dtype", dtype, "--threads", "1", *extra,
                                "--json").stdout)


def twin_loss(checkpoint, dtype):
    torch.set_num_threads(1)
    net = darts_torch.load_checkpoint(checkpoint, dtype=dtype)
    images, labels = darts_torch.evaluation_images(checkpoint, SAMPLES, dtype=dtype)
    with torch.no_grad():
        logits = net(images)
    loss = torch.nn.functional.cross_entropy(logits, labels, reduction="sum").item() / SAMPLES
    return loss, (logits.argmax(1) == labels).double().mean().item()


def twin_top_eigenvalue(checkpoint):
    """Top eigenvalue of the Hessian of the twin's mean float64 loss, by ARPACK
    (Lanczos) on exact Hessian-vector products."""
    torch.set_num_threads(1)
    net = darts_torch.load_checkpoint(checkpoint, dtype=torch.float64)
    images, labels = darts_torch.evaluation_images(checkpoint, SAMPLES, dtype=torch.float64)
    parameters = list(net.parameters())
    dimension = sum(p.numel() for p in parameters)

    def hvp(vector):
        vector = torch.from_numpy(np.ascontiguousarray(vector, dtype=np.float64).reshape(-1))
        loss = torch.nn.functional.cross_entropy(net(images), labels)
        gradients = torch.autograd.grad(loss, parameters, create_graph=True)
        pieces = list(torch.split(vector, [p.numel() for p in parameters]))
        products = torch.autograd.grad(gradients, parameters,
                                       grad_outputs=[v.view_as(p) for v, p in zip(pieces, parameters)])
        return torch.cat([h.reshape(-1) for h in products]).numpy()

    operator = LinearOperator((dimension, dimension), matvec=hvp, dtype=np.float64)
    start = np.random.default_rng(0).standard_normal(dimension)
    return float(eigsh(operator, k=1, which="LA", tol=1e-10, v0=start, return_eigenvectors=False)[0]), dimension


def test_twin_loss_and_top_eigenvalue_match_cellscape(cellscape, checkpoints):
    checkpoint = checkpoints["darts_v2"]
    # As the brief's command (`--top-k 1`), with --tol 1e-10 so that the comparison can be tight.
    result = cellscape_hessian(cellscape, checkpoint, "float64", "--top-k", "1", "--tol", "1e-10")
    loss, accuracy = twin_loss(checkpoint, torch.float64)
    assert loss == pytest.approx(result["loss"], rel=LOSS_RTOL_FLOAT64, abs=0)
    assert accuracy == result["accuracy"]
    eigenvalue, dimension = twin_top_eigenvalue(checkpoint)
    assert dimension == result["parameters"]
    assert result["converged"] == [True] and result["error_estimates"][0] <= 1e-10
    assert eigenvalue == pytest.approx(result["eigenvalues"][0], rel=EIGENVALUE_RTOL, abs=0)


def test_twin_loss_matches_cellscape_for_every_operation(cellscape, checkpoints):
    checkpoint = checkpoints["all_operations"]
    for dtype, rtol in (("float64", LOSS_RTOL_FLOAT64), ("float32", LOSS_RTOL_FLOAT32)):
        result = cellscape_hessian(cellscape, checkpoint, dtype, "--top-k", "0")
        loss, accuracy = twin_loss(checkpoint, getattr(torch, dtype))
        assert loss == pytest.approx(result["loss"], rel=rtol, abs=0), dtype
        # float32 rounding may flip a near-tie of two logits: at most one sample.
        assert abs(accuracy - result["accuracy"]) <= (0 if dtype == "float64" else 1 / SAMPLES), dtype


def test_twin_loads_strictly(checkpoints):
    checkpoint = checkpoints["darts_v2"]
    genotype, config, _ = darts_torch.read_checkpoint_config(checkpoint)
    assert config["input_shape"] == [1, 28, 28]
    with h5py.File(checkpoint) as f:
        parameters = {name: f["parameters"][name][()] for name in f["parameters"]}
        buffers = {name: f["buffers"][name][()] for name in f["buffers"]}
    net = darts_torch.load_checkpoint(checkpoint)
    assert set(dict(net.named_parameters())) == set(parameters)
    assert set(dict(net.named_buffers())) == set(buffers)  # num_batches_tracked included
    other = darts_torch.DartsNetwork(genotype, config["init_channels"], config["layers"] + 1, config["classes"],
                                     config["input_shape"])
    with pytest.raises(ValueError, match="missing from the checkpoint"):
        darts_torch.load_strict(other, parameters, "parameters")
    wider = darts_torch.DartsNetwork(genotype, config["init_channels"] + 2, config["layers"], config["classes"],
                                     config["input_shape"])
    with pytest.raises(ValueError, match="checkpoint shape"):
        darts_torch.load_strict(wider, parameters, "parameters")
    incomplete = dict(buffers)
    incomplete.pop(next(iter(incomplete)))
    with pytest.raises(ValueError, match="missing from the checkpoint"):
        darts_torch.load_strict(net, incomplete, "buffers")
