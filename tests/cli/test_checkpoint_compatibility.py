"""Checkpoints written before the move from LibTorch 1.13 to PyTorch 2.11
still load, and give the numbers the 1.13 build computed from them
(data/fixtures/checkpoint-libtorch-1.13)."""
import json
import os
import pathlib
import shutil

import pytest

FIXTURE = pathlib.Path(__file__).resolve().parents[2] / "data" / "fixtures" / "checkpoint-libtorch-1.13"


@pytest.fixture(scope="module")
def expected():
    return json.loads((FIXTURE / "expected.json").read_text())


def relative(a, b):
    return abs(a - b) / abs(b)


def test_the_old_checkpoint_gives_the_old_loss_and_top_eigenvalue(cellscape, expected):
    result = json.loads(cellscape("hessian", "--checkpoint", str(FIXTURE / "epoch-0001.h5"), "--dtype", "float64",
                                  "--samples", "32", "--batch-size", "32", "--top-k", "1", "--tol", "1e-10",
                                  "--threads", "1", "--json").stdout)
    old = expected["hessian"]
    # float64 on the same weights and samples: the two LibTorch builds differ
    # only in summation order, ~1e-15 relative; 1e-12 leaves room for that.
    assert relative(result["loss"], old["loss"]) < 1e-12
    assert result["accuracy"] == old["accuracy"]
    # Both runs converge Lanczos to Ritz residuals below 1e-12 of lambda; 1e-9
    # allows for the different rounding of every HVP on the way.
    assert relative(result["eigenvalues"][0], old["top_eigenvalue"]) < 1e-9


def test_the_old_checkpoint_gives_the_old_gradient_variance(cellscape, expected):
    result = json.loads(cellscape("gradvar", "--checkpoint", str(FIXTURE / "epoch-0001.h5"), "--dtype", "float64",
                                  "--batches", "4", "--batch-size", "16", "--threads", "1", "--json").stdout)
    old = expected["gradvar"]
    # float64 sums of squared gradient differences: as for the loss.
    assert relative(result["total_variance"], old["total_variance"]) < 1e-11
    assert relative(result["gradient_norm"], old["gradient_norm"]) < 1e-11


def test_training_resumes_from_the_old_checkpoint_to_the_old_second_epoch(cellscape, expected, tmp_path):
    shutil.copy(FIXTURE / "epoch-0001.h5", tmp_path / "epoch-0001.h5")
    result = json.loads(cellscape("train", "--resume", str(tmp_path / "epoch-0001.h5"), "--json").stdout)
    old = expected["epoch_2"]
    assert result["epochs"] == 2 and os.path.exists(result["final_checkpoint"])
    # Eight float32 SGD steps with the restored momentum on another LibTorch:
    # its kernels may round differently, so 1e-5 relative, not bitwise.
    # (With the momentum zeroed instead, the losses move by 4-5%.)
    assert relative(result["final_train_loss"], old["final_train_loss"]) < 1e-5
    assert relative(result["final_test_loss"], old["final_test_loss"]) < 1e-5
    assert result["final_test_accuracy"] == old["final_test_accuracy"]
