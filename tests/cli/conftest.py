"""Shared helpers for the command-line tests: run the built `cellscape`."""
import os
import subprocess

import pytest


@pytest.fixture(scope="session")
def cellscape():
    binary = os.environ.get("CELLSCAPE")
    if not binary or not os.access(binary, os.X_OK):
        pytest.fail("set CELLSCAPE to the built cellscape binary (ctest does this)")

    def run(*args, check=True):
        result = subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"cellscape {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    return run


@pytest.fixture(scope="session")
def tiny_run(cellscape, tmp_path_factory):
    """A tiny DARTS_V2 run of two epochs with a checkpoint after each: epoch-0001.h5, epoch-0002.h5."""
    run = tmp_path_factory.mktemp("tiny-run")
    cellscape("train", "--cell", "DARTS_V2", "--dataset", "fashion-mnist", "--train-size", "256", "--test-size",
              "128", "--batch-size", "32", "--init-channels", "4", "--layers", "3", "--epochs", "2", "--threads", "1",
              "--seed", "3", "--checkpoint-epochs", "1", "--out", str(run))
    return run
