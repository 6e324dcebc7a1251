"""What the red-team tests (test_redteam_*.py) share: running the built
`cellscape` on hostile input, the shape every refusal must have, files
damaged or crafted on purpose, and a snapshot to prove nothing was destroyed
or written where it should not be."""
import hashlib
import os
import shutil
import stat
import subprocess

import h5py

BINARY = os.environ.get("CELLSCAPE")
SMALL = ["--samples", "32", "--batch-size", "32", "--threads", "1"]
# The data, network and training of the smallest study the tests run; a study file adds its cells before it
# and may add [training] keys and [analysis] tables after it.
TINY_STUDY_TRAINING = """
[data]
dataset = "fashion-mnist"
train_size = 128
test_size = 64
[network]
init_channels = 4
layers = 3
[training]
epochs = 1
batch_size = 32
"""


# Analyses that fit TINY_STUDY_TRAINING's 128 training and 64 test images (a study checks that before it trains).
TINY_STUDY_ANALYSES = """
[analysis.hessian]
samples = 64
batch_size = 32
[analysis.gradient_variance]
batches = 2
batch_size = 32
[analysis.surface]
samples = 32
batch_size = 32
"""


def run(*args, timeout=120, **options):
    """The command, its output captured; a hang past `timeout` fails the test (subprocess.TimeoutExpired)."""
    return subprocess.run([BINARY, *map(str, args)], capture_output=True, text=True, timeout=timeout, **options)


def refused(result, *fragments):
    """Exit status 1 and one line `cellscape: error: ...` that contains every fragment: no crash, no
    internal error (status 70), no traceback, no second line to read."""
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.startswith("cellscape")]
    assert len(lines) == 1, result.stderr
    assert "internal error" not in lines[0] and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def edited_copy(source, target, change):
    """A copy of the HDF5 file `source` at `target`, changed in place by change(h5py.File)."""
    shutil.copy(source, target)
    with h5py.File(target, "r+") as f:
        change(f)
    return target


def replace_dataset(name, **dataset):
    """A change for edited_copy: the dataset `name` recreated with h5py's create_dataset(**dataset)."""
    def change(f):
        if name in f:
            del f[name]
        f.create_dataset(name, **dataset)
    return change


def snapshot(directory):
    """Every entry under `directory`: its type and, for regular files, a hash of the bytes."""
    found = {}
    for root, directories, files in os.walk(directory):
        for name in directories + files:
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            digest = None
            if stat.S_ISREG(mode):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            found[os.path.relpath(path, directory)] = (stat.S_IFMT(mode), digest)
    return found
