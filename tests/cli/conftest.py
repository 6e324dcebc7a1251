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
