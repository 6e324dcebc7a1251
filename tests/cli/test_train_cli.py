"""`cellscape network` and `cellscape train` as a user runs them, including
interruption by SIGTERM and resuming."""
import json
import os
import re
import signal
import subprocess

import h5py

TINY = ["--cell", "DARTS_V2", "--dataset", "fashion-mnist", "--train-size", "2000", "--test-size", "200",
        "--batch-size", "16", "--init-channels", "4", "--layers", "3", "--epochs", "3", "--threads", "1",
        "--seed", "5", "--checkpoint-epochs", "1"]


def test_network_summary_counts_parameters(cellscape):
    summary = json.loads(cellscape("network", "DARTS_V2", "--init-channels", "36", "--layers", "20",
                                   "--classes", "10", "--input-shape", "3x32x32", "--auxiliary", "--json").stdout)
    assert summary["parameters"] == 3349342  # the DARTS code base's "param size = 3.349342MB"
    assert summary["auxiliary_parameters"] > 0
    assert len(summary["cells"]) == 20 and summary["cells"][13]["type"] == "reduce"


def test_sigterm_saves_a_resumable_state_that_resumes_bitwise(cellscape, tmp_path):
    straight = cellscape("train", *TINY, "--out", str(tmp_path / "straight"), "--json")
    result = json.loads(straight.stdout)
    assert result["epochs"] == 3
    assert [os.path.basename(p) for p in result["checkpoints"]] == ["epoch-0001.h5", "epoch-0003.h5"]

    binary = os.environ["CELLSCAPE"]
    run = tmp_path / "interrupted"
    process = subprocess.Popen([binary, "train", *TINY, "--out", str(run)], stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "CELLSCAPE_PROGRESS_SECONDS": "0"})
    for line in process.stderr:  # interrupt early in epoch 2 (125 steps per epoch)
        match = re.match(r"train DARTS_V2: (\d+)/375 steps", line)
        if match and int(match.group(1)) >= 130:
            process.send_signal(signal.SIGTERM)
            break
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert "interrupted by SIGTERM in epoch 2" in rest
    assert f"cellscape train --resume {run}/latest.h5" in rest
    with h5py.File(run / "latest.h5") as latest:
        assert latest.attrs["epoch"] == 1 and latest.attrs["step_in_epoch"] > 0 and latest.attrs["complete"] == 0

    cellscape("train", "--resume", str(run / "latest.h5"))
    with h5py.File(tmp_path / "straight" / "epoch-0003.h5") as a, h5py.File(run / "epoch-0003.h5") as b:
        assert a.attrs["weights_hash"] == b.attrs["weights_hash"]
        assert list(a["history/epoch/test_loss"]) == list(b["history/epoch/test_loss"])
        assert b.attrs["format"] == "cellscape-checkpoint" and b.attrs["genotype"].startswith("Genotype(")


def test_train_refuses_bad_settings_with_a_sentence(cellscape, tmp_path):
    mixed = cellscape("train", "--resume", str(tmp_path / "x.h5"), "--lr", "0.1", check=False)
    assert mixed.returncode == 1 and "--lr cannot be combined with --resume" in mixed.stderr
    no_cell = cellscape("train", "--out", str(tmp_path), check=False)
    assert no_cell.returncode == 1 and "--cell is required" in no_cell.stderr
    bad_data = cellscape("train", "--cell", "DARTS_V2", "--dataset", "imagenet", "--out", str(tmp_path / "r"),
                         check=False)
    assert bad_data.returncode == 1 and "unknown dataset 'imagenet'" in bad_data.stderr
    bad_epochs = cellscape("train", *TINY[:-2], "--checkpoint-epochs", "1,9", "--out", str(tmp_path / "r"),
                           check=False)
    assert bad_epochs.returncode == 1 and "--checkpoint-epochs: names epoch 9, outside 0 (the initial weights) to the number of epochs (3)" in bad_epochs.stderr
    not_checkpoint = tmp_path / "not.h5"
    not_checkpoint.write_text("hello")
    resumed = cellscape("train", "--resume", str(not_checkpoint), check=False)
    assert resumed.returncode == 1 and "is not an HDF5 file" in resumed.stderr
