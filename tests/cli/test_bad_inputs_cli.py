"""Regression tests for what a red-team run of the command line found: one
test per class of input. Each bad input must get a one-sentence error that
names what the user typed, a non-zero exit, no crash, and no file left that
a later step would trust."""
import json
import os
import resource
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from hostile import TINY_STUDY_TRAINING

BINARY = os.environ.get("CELLSCAPE")
SAMPLES = ["--samples", "32", "--batch-size", "32", "--threads", "1"]
STUDY = 'cells = ["DARTS_V2"]\nthreads = 1\n' + TINY_STUDY_TRAINING + """[analysis.hessian]
top_k = 1
tol = 0.1
trace = false
samples = 32
batch_size = 32
[analysis.surface]
enabled = false
[analysis.gradient_variance]
batches = 2
batch_size = 16
"""


def one_sentence_error(result, *fragments):
    """A failed run that crashed not, printed one error line and says each fragment."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("cellscape")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def test_very_long_cell_specs_are_errors_not_crashes(cellscape, tmp_path):
    huge = tmp_path / "huge.txt"
    huge.write_text("A" * 1048576 + "\n")
    one_sentence_error(cellscape("cell", f"@{huge}", check=False), "no genotype found")
    one_sentence_error(cellscape("network", f"@{huge}", check=False), "no genotype found")
    one_sentence_error(cellscape("train", "--cell", "B" * 100000, "--out", str(tmp_path / "r"), check=False),
                       "is not a zoo cell")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


@pytest.mark.parametrize("args, fragments", [
    (["sample", "--count", "1000000000"], ["--count: must be between 1 and 100000"]),
    (["train", "--cell", "DARTS_V2", "--threads", "100000", "--out", "{tmp}/r"],
     ["--threads: is 100000 but this machine has"]),
    (["train", "--cell", "DARTS_V2", "--layers", "100000", "--out", "{tmp}/r"],
     ["--layers: must be between 1 and 1000 (got 100000)"]),
    (["network", "DARTS_V2", "--init-channels", "1000000"], ["--init-channels: must be an even number from 2 to 4096"]),
    (["network", "DARTS_V2", "--init-channels", "4096", "--layers", "1000"],
     ["--init-channels: 4096 channels and 1000 cells make a network of", "GiB available"]),
    (["hessian", "--checkpoint", "{run}/epoch-0001.h5", "--tol", "-1"], ["--tol: must be between 0 and 1"]),
    (["surface", "--checkpoint", "{run}/epoch-0001.h5", "--x", "-1:1:100000000", "--out", "{tmp}/s.h5"],
     ["--x: '-1:1:100000000': NUM must be between 1 and 100000"]),
    (["surface", "--checkpoint", "{run}/epoch-0001.h5", "--x", "-1:1:2000", "--y", "-1:1:2000", "--out", "{tmp}/s.h5"],
     ["--y: the grid", "has 4000000 points"]),
    (["gradvar", "--checkpoint", "{run}/epoch-0001.h5", "--batch-size", "-1"], ["--batch-size: must be at least 1"]),
    (["train", "--out", "{tmp}/r"], ["--cell is required"]),
])
def test_limits_and_impossible_values_are_refused_before_any_work(cellscape, tiny_run, tmp_path, args, fragments):
    args = [a.format(tmp=tmp_path, run=tiny_run) for a in args]
    start = time.monotonic()
    one_sentence_error(cellscape(*args, check=False), *fragments)
    assert time.monotonic() - start < 30  # refused up front, not after the work
    assert not (tmp_path / "s.h5").exists() and not (tmp_path / "s.h5.partial").exists()


def test_outputs_are_not_overwritten_without_force(cellscape, tiny_run, tmp_path):
    checkpoint = str(tiny_run / "epoch-0001.h5")
    precious = tmp_path / "precious.h5"
    shutil.copy(tiny_run / "epoch-0002.h5", precious)
    before = precious.read_bytes()
    for command in (["surface", "--x", "0:0:1", *SAMPLES], ["hessian", "--top-k", "1", "--tol", "0.1", *SAMPLES],
                    ["gradvar", "--batches", "2", "--batch-size", "16"]):
        result = cellscape(*command, "--checkpoint", checkpoint, "--out", str(precious), check=False)
        one_sentence_error(result, "--out:", "already exists", "--force replaces it")
    assert precious.read_bytes() == before
    start = time.monotonic()
    one_sentence_error(cellscape("surface", "--checkpoint", checkpoint, "--x", "-1:1:5", *SAMPLES, "--out",
                                 str(tmp_path), check=False), "--out:", "is a directory")
    assert time.monotonic() - start < 30
    replaced = cellscape("hessian", "--checkpoint", checkpoint, "--top-k", "1", "--tol", "0.1", *SAMPLES,
                         "--out", str(precious), "--force")
    assert replaced.returncode == 0
    with h5py.File(precious) as f:
        assert f.attrs["format"] == "cellscape-hessian"


def test_damaged_checkpoints_are_refused_by_every_command(cellscape, tiny_run, tmp_path):
    nan = tmp_path / "nan.h5"
    shutil.copy(tiny_run / "epoch-0001.h5", nan)
    with h5py.File(nan, "r+") as f:
        name = sorted(f["parameters"])[0]
        f["parameters"][name][...] = np.nan
    edited = tmp_path / "edited.h5"
    shutil.copy(tiny_run / "epoch-0001.h5", edited)
    with h5py.File(edited, "r+") as f:
        f["parameters"][name][...] = f["parameters"][name][()] * 1.01
    wrong_type = tmp_path / "wrong-type.h5"
    shutil.copy(tiny_run / "epoch-0001.h5", wrong_type)
    with h5py.File(wrong_type, "r+") as f:
        values = f["parameters"][name][()]
        del f["parameters"][name]
        f["parameters"][name] = values.astype(np.float16)
    for path, fragment in [(nan, "holds NaN or infinite values"), (edited, "do not match the weights_hash"),
                           (wrong_type, "do not match the weights_hash")]:
        one_sentence_error(cellscape("surface", "--checkpoint", str(path), "--x", "0:0:1", *SAMPLES, "--out",
                                     str(tmp_path / "s.h5"), check=False), fragment)
        one_sentence_error(cellscape("hessian", "--checkpoint", str(path), *SAMPLES, check=False), fragment)
        one_sentence_error(cellscape("train", "--resume", str(path), "--out", str(tmp_path / "resumed"),
                                     check=False), fragment)


def test_a_merge_of_a_shard_with_uncomputed_points_is_refused(cellscape, tiny_run, tmp_path):
    checkpoint = str(tiny_run / "epoch-0002.h5")
    shards = []
    for i in range(2):
        shards.append(tmp_path / f"shard{i}.h5")
        cellscape("surface", "--checkpoint", checkpoint, "--x", "-1:1:4", *SAMPLES, "--shard", f"{i}/2",
                  "--out", str(shards[-1]))
    with h5py.File(shards[1], "r+") as f:
        completed = f["completed"][()]
        completed[1] = 0
        f["completed"][...] = completed
        f["train_loss"][1] = np.nan
    one_sentence_error(cellscape("merge", str(tmp_path / "merged.h5"), *map(str, shards), check=False),
                       "its point 1 was not computed")
    assert not (tmp_path / "merged.h5").exists()


def write_study(tmp_path, text=STUDY, name="study.toml"):
    config = tmp_path / name
    config.write_text(text)
    return config


@pytest.mark.parametrize("change, fragment", [
    ("[analysis.surface]\nenabled = true\ngradient_variance = true\ngv_batches = 1\n",
     "[analysis.surface] gv_batches: must be at least 2 for a variance (got 1)"),
    ("[analysis.surface]\nenabled = true\ngradient_variance = true\ngv_batches = 0\n",
     "[analysis.surface] gv_batches: must be at least 2 for a variance (got 0)"),
    ("[analysis.hessian]\ntrace = true\ntrace_max_probes = 1\n",
     "[analysis.hessian] trace_max_probes: must be at least 2 (got 1)"),
    ("[training]\nlearning_rate = -1.0\n", "[training] learning_rate: must be a positive number (got -1)"),
    ("[network]\nlayers = 100000\n", "[network] layers: must be between 1 and 1000"),
    ("[data]\ntrain_size = -5\n", "[data] train_size: must not be negative (got -5)"),
])
def test_bad_study_settings_name_the_key_before_any_training(cellscape, tmp_path, change, fragment):
    # The change replaces the section it names in the config.
    section = change.split("]")[0] + "]"
    lines, skipping = [], False
    for line in STUDY.splitlines():
        if line.startswith("["):
            skipping = line == section
        if not skipping:
            lines.append(line)
    config = write_study(tmp_path, "\n".join(lines) + "\n" + change)
    result = cellscape("study", str(config), "--out", str(tmp_path / "out"), check=False)
    one_sentence_error(result, "study.toml: " + fragment)
    assert not (tmp_path / "out").exists()


def test_a_config_that_is_a_directory_is_a_sentence(cellscape, tmp_path):
    one_sentence_error(cellscape("study", str(tmp_path), "--out", str(tmp_path / "out"), check=False),
                       "is not a file")


def test_a_rerun_with_edited_settings_does_not_reuse_the_old_results(cellscape, tmp_path):
    config = write_study(tmp_path)
    out = tmp_path / "out"
    cellscape("study", str(config), "--out", str(out))
    before = (out / "summary.h5").read_bytes()
    write_study(tmp_path, STUDY.replace("batch_size = 32\n[analysis.hessian]", "batch_size = 32\nlearning_rate = 0.05\n"
                                        "[analysis.hessian]"))
    result = cellscape("study", str(config), "--out", str(out), check=False)
    assert result.returncode == 1
    assert "trained with other settings (learning_rate was 0.025, the config now says 0.05)" in result.stdout
    assert (out / "summary.h5").read_bytes() != before  # the summary says the cell failed, not the old numbers
    with h5py.File(out / "summary.h5") as f:
        assert f["replicates/status"][0].decode().startswith("failed:")


def test_a_second_writer_of_a_training_run_is_told_who_holds_it(cellscape, tmp_path):
    out = tmp_path / "run"
    command = [BINARY, "train", "--cell", "DARTS_V2", "--dataset", "fashion-mnist", "--train-size", "2048",
               "--test-size", "64", "--batch-size", "32", "--init-channels", "4", "--layers", "3", "--epochs", "3",
               "--threads", "1", "--out", str(out)]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "CELLSCAPE_PROGRESS_SECONDS": "0"})
    try:
        assert "train DARTS_V2" in first.stderr.readline()  # the first run holds the lock and trains
        second = subprocess.run(command, capture_output=True, text=True, timeout=60)
        one_sentence_error(second, f"the training run in {out} is being written by another cellscape process "
                                   f"(pid {first.pid})")
    finally:
        first.kill()
        first.wait()


def run_interrupted(command, wait_for, signal_number, env=None, timeout=120):
    """Starts the command, sends it the signal once its stderr shows `wait_for`, returns (code, stderr)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "CELLSCAPE_PROGRESS_SECONDS": "0", **(env or {})})
    seen = []
    for line in process.stderr:
        seen.append(line)
        if wait_for in line:
            process.send_signal(signal_number)
            break
    rest = process.stderr.read()
    return process.wait(timeout=timeout), "".join(seen) + rest


def test_a_signal_stops_a_standalone_hessian_with_a_sentence(tiny_run):
    code, stderr = run_interrupted([BINARY, "hessian", "--checkpoint", str(tiny_run / "epoch-0001.h5"), "--top-k", "2",
                                    "--tol", "1e-9", *SAMPLES], "top eigenvalues", signal.SIGINT)
    assert code == 128 + signal.SIGINT
    assert "interrupted during the Hessian's Lanczos iterations" in stderr


@pytest.mark.parametrize("wait_for, signal_number", [("train DARTS_V2", signal.SIGINT),
                                                      ("top eigenvalues", signal.SIGTERM)])
def test_a_signal_stops_a_study_in_training_or_in_its_hessian_without_a_summary(tmp_path, wait_for, signal_number):
    config = write_study(tmp_path, STUDY.replace("tol = 0.1", "tol = 1e-9"))
    code, stderr = run_interrupted([BINARY, "study", str(config), "--out", str(tmp_path / "out")], wait_for,
                                   signal_number)
    assert code == 128 + signal_number, stderr
    assert "interrupted" in stderr
    assert not (tmp_path / "out" / "summary.h5").exists()


def limited_file_size(size):
    """Child processes whose writes beyond `size` bytes fail (EFBIG), as on a full disk."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return limit


def test_a_full_disk_is_an_error_and_the_rerun_continues(tiny_run, tmp_path):
    train = [BINARY, "train", "--cell", "DARTS_V2", "--dataset", "fashion-mnist", "--train-size", "128",
             "--test-size", "64", "--batch-size", "32", "--init-channels", "4", "--layers", "3", "--epochs", "2",
             "--threads", "1", "--checkpoint-epochs", "1", "--out", str(tmp_path / "run")]
    full = subprocess.run(train, capture_output=True, text=True, preexec_fn=limited_file_size(20000), timeout=300)
    assert full.returncode == 1, (full.returncode, full.stderr[-2000:])
    assert "cellscape: error:" in full.stderr
    assert not (tmp_path / "run" / "epoch-0001.h5").exists()
    assert subprocess.run(train, capture_output=True, text=True, timeout=300).returncode == 0

    surface = [BINARY, "surface", "--checkpoint", str(tiny_run / "epoch-0002.h5"), "--x", "-1:1:3", "--y", "-1:1:3",
               *SAMPLES, "--out", str(tmp_path / "s.h5")]
    full = subprocess.run(surface, capture_output=True, text=True, preexec_fn=limited_file_size(30000), timeout=300)
    assert full.returncode == 1, (full.returncode, full.stderr[-2000:])
    assert "cellscape: error:" in full.stderr and "Traceback" not in full.stderr
    assert not (tmp_path / "s.h5").exists()
    again = subprocess.run(surface, capture_output=True, text=True, timeout=300)
    if again.returncode != 0:  # a partial file the full disk damaged: the sentence says what to do
        assert "delete it to start over" in again.stderr
        os.remove(tmp_path / "s.h5.partial")
        again = subprocess.run(surface, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["points"] == 9
