"""Crash consistency: `train`, `surface`, `study` (one job and --jobs 2) and
the figures killed with SIGKILL at seeded moments of a run, then the same
command run again (until it succeeds), must end with the files an
uninterrupted run writes, and leave no half-written file behind.

Everything runs on one thread with fixed seeds, so the computations are
deterministic and the final numbers are compared bitwise (tolerance 0).
Only what says when or how a file was made differs: the `created` and
`command` attributes and the recorded seconds."""
import os
import random
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

BINARY = os.environ.get("CELLSCAPE")
SEEDS = [1, 2, 3]
# What differs between two runs of the same computation without being a result.
NOT_RESULTS = {"history/epoch/seconds", "seconds", "replicates/train_seconds", "replicates/analysis_seconds"}
STUDY = """
cells = ["DARTS_V2", "DARTS_V2:chain"]
threads = 1
[data]
dataset = "fashion-mnist"
train_size = 256
test_size = 64
[network]
init_channels = 4
layers = 3
[training]
epochs = 2
batch_size = 32
[analysis.hessian]
top_k = 1
tol = 0.01
trace = false
samples = 32
batch_size = 32
[analysis.surface]
x = "-1:1:3"
y = "-1:1:3"
samples = 32
batch_size = 32
[analysis.gradient_variance]
batches = 2
batch_size = 16
"""


def datasets(path):
    """Every dataset of an HDF5 file (strings decoded), but the timing ones."""
    found = {}
    with h5py.File(path) as f:
        def visit(name, item):
            if isinstance(item, h5py.Dataset) and name not in NOT_RESULTS:
                value = item[()]
                found[name] = [v.decode() if isinstance(v, bytes) else v for v in value] \
                    if value.dtype.kind in "OS" else value
        f.visititems(visit)
    return found


def assert_same_results(a, b):
    first, second = datasets(a), datasets(b)
    assert first.keys() == second.keys(), (a, b)
    for name in first:
        if isinstance(first[name], list):
            assert first[name] == second[name], (b, name)
        else:
            np.testing.assert_array_equal(first[name], second[name], err_msg=f"{b}: {name}")


def h5_files(directory):
    return sorted(p.relative_to(directory) for p in directory.rglob("*.h5"))


def no_half_written_files(directory):
    """After a successful rerun nothing unfinished may remain to be trusted later."""
    leftovers = [p for p in directory.rglob("*") if p.name.endswith((".partial", ".points", ".finished"))]
    assert not leftovers, leftovers


def timed(command):
    start = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    return time.monotonic() - start


def kill_then_finish(command, seconds, seed):
    """Kills the command with SIGKILL at a seeded moment of a run of `seconds`, then reruns it until it succeeds."""
    moment = random.Random(seed).uniform(0.05, 0.95) * seconds
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(moment)
    process.send_signal(signal.SIGKILL)
    process.wait()
    for _ in range(3):
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if result.returncode == 0:
            return
    raise AssertionError(f"{command[1]} did not finish after SIGKILL at {moment:.2f} s:\n{result.stderr}")


def train_command(out):
    return [BINARY, "train", "--cell", "DARTS_V2", "--dataset", "fashion-mnist", "--train-size", "512",
            "--test-size", "64", "--batch-size", "32", "--init-channels", "4", "--layers", "3", "--epochs", "3",
            "--checkpoint-epochs", "1,2", "--threads", "1", "--seed", "5", "--out", str(out)]


@pytest.mark.parametrize("seed", SEEDS)
def test_training_killed_at_any_moment_ends_with_the_uninterrupted_checkpoints(tmp_path, seed):
    seconds = timed(train_command(tmp_path / "straight"))
    kill_then_finish(train_command(tmp_path / "killed"), seconds, seed)
    assert h5_files(tmp_path / "killed") == h5_files(tmp_path / "straight")
    for name in h5_files(tmp_path / "straight"):
        assert_same_results(tmp_path / "straight" / name, tmp_path / "killed" / name)
    no_half_written_files(tmp_path / "killed")


@pytest.mark.parametrize("seed", SEEDS)
def test_a_surface_killed_at_any_moment_ends_with_the_uninterrupted_file(tiny_run, tmp_path, seed):
    def command(out):
        return [BINARY, "surface", "--checkpoint", str(tiny_run / "epoch-0002.h5"), "--x", "-1:1:5", "--y", "-1:1:4",
                "--eval", "train,test", "--samples", "64", "--batch-size", "32", "--threads", "1",
                "--out", str(out)]
    seconds = timed(command(tmp_path / "straight.h5"))
    kill_then_finish(command(tmp_path / "killed.h5"), seconds, seed)
    assert_same_results(tmp_path / "straight.h5", tmp_path / "killed.h5")
    no_half_written_files(tmp_path)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_study_killed_at_any_moment_ends_with_the_uninterrupted_files(tmp_path, seed):
    config = tmp_path / "kill.toml"
    config.write_text(STUDY)
    seconds = timed([BINARY, "study", str(config), "--out", str(tmp_path / "straight")])
    kill_then_finish([BINARY, "study", str(config), "--out", str(tmp_path / "killed")], seconds, seed)
    assert h5_files(tmp_path / "killed") == h5_files(tmp_path / "straight")
    for name in h5_files(tmp_path / "straight"):
        assert_same_results(tmp_path / "straight" / name, tmp_path / "killed" / name)
    no_half_written_files(tmp_path / "killed")


def kill_tree_then_finish(command, seconds, seed, env=None):
    """kill_then_finish for commands with children (a --jobs 2 study): the parent dies by SIGKILL, its
    children by the SIGTERM the kernel sends them when it does (PR_SET_PDEATHSIG). Until they are gone
    they hold their replicates' locks, and a rerun is told so: it waits and tries again."""
    moment = random.Random(seed).uniform(0.05, 0.95) * seconds
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    time.sleep(moment)
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 120
    while True:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
        if result.returncode == 0:
            return
        if "being written by another cellscape process" not in result.stderr or time.monotonic() > deadline:
            raise AssertionError(f"{command[1]} did not finish after SIGKILL at {moment:.2f} s:\n{result.stderr}")
        time.sleep(1)


@pytest.fixture(scope="module")
def two_job_study(tmp_path_factory):
    """The kill matrix's study run straight with --jobs 2: its files and how long it took."""
    directory = tmp_path_factory.mktemp("two-jobs")
    config = directory / "kill.toml"
    config.write_text(STUDY)
    seconds = timed([BINARY, "study", str(config), "--jobs", "2", "--out", str(directory / "straight")])
    return config, directory / "straight", seconds


@pytest.mark.parametrize("seed", SEEDS)
def test_a_two_job_study_killed_at_any_moment_ends_with_the_uninterrupted_files(two_job_study, tmp_path, seed):
    config, straight, seconds = two_job_study
    kill_tree_then_finish([BINARY, "study", str(config), "--jobs", "2", "--out", str(tmp_path / "killed")],
                          seconds, seed)
    assert h5_files(tmp_path / "killed") == h5_files(straight)
    for name in h5_files(straight):
        assert_same_results(straight / name, tmp_path / "killed" / name)
    no_half_written_files(tmp_path / "killed")


def figure_files(directory):
    """Every file the figures command left, by name, with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("seed", SEEDS)
def test_figures_killed_at_any_moment_end_with_the_uninterrupted_files(two_job_study, tmp_path, seed):
    _, study, _ = two_job_study
    python = os.environ.get("CELLSCAPE_PYTHON", "python3")
    # matplotlib stamps PDFs with the time unless SOURCE_DATE_EPOCH fixes it: then two drawings are bitwise equal.
    env = dict(os.environ, SOURCE_DATE_EPOCH="0")

    def command(out):
        return [python, "-m", "cellscape_plots", "study", str(study), "--out", str(out)]
    start = time.monotonic()
    subprocess.run(command(tmp_path / "straight"), check=True, capture_output=True, timeout=600, env=env)
    seconds = time.monotonic() - start
    kill_tree_then_finish(command(tmp_path / "killed"), seconds, seed, env=env)
    straight, killed = figure_files(tmp_path / "straight"), figure_files(tmp_path / "killed")
    assert sorted(killed) == sorted(straight)  # no temporary file left, none missing
    for name in straight:
        assert killed[name] == straight[name], name


@pytest.mark.parametrize("missing", ["epoch-0003.h5", "epoch-0002.h5"])
def test_a_kill_between_latest_and_the_epoch_checkpoint_is_mended_by_the_rerun(tmp_path, missing):
    # An epoch writes latest.h5, then its own checkpoint: a kill between the two is this state (latest.h5 at the
    # epoch, its file missing). The rerun must write the file, equal to the uninterrupted run's. For epoch 2 the
    # kill is simulated by putting latest.h5 back at epoch 2 (the state epoch-0002.h5 holds) before deleting it.
    subprocess.run(train_command(tmp_path / "straight"), check=True, capture_output=True, timeout=600)
    subprocess.run(train_command(tmp_path / "killed"), check=True, capture_output=True, timeout=600)
    killed = tmp_path / "killed"
    if missing == "epoch-0002.h5":
        (killed / "latest.h5").unlink()
        (killed / "epoch-0002.h5").rename(killed / "latest.h5")
        (killed / "epoch-0003.h5").unlink()
    else:
        (killed / missing).unlink()
    subprocess.run(train_command(killed), check=True, capture_output=True, timeout=600)
    assert h5_files(killed) == h5_files(tmp_path / "straight")
    for name in h5_files(tmp_path / "straight"):
        assert_same_results(tmp_path / "straight" / name, killed / name)
