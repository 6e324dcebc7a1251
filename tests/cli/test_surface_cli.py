"""`cellscape surface` and `cellscape merge` as a user runs them: the file
layout, SIGTERM and resume, Slurm-style shards, interpolation, Hessian
directions, and bad grid specs."""
import json
import os
import re
import signal
import subprocess

import h5py
import numpy as np

SAMPLES = ["--samples", "64", "--threads", "1"]


def per_point(path):
    with h5py.File(path) as f:
        return {name: f[name][()] for name in f if isinstance(f[name], h5py.Dataset)}


def assert_same_points(a, b):
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_a_2d_surface_with_gradient_variance_lands_in_y_by_x_order(cellscape, tiny_run, tmp_path):
    out = tmp_path / "surface.h5"
    summary = json.loads(cellscape("surface", "--checkpoint", str(tiny_run / "epoch-0002.h5"), "--x", "-1:1:4",
                                   "--y", "-0.5:0.5:3", "--eval", "train,test", "--gradient-variance",
                                   "--gv-batches", "3", "--gv-batch-size", "16", *SAMPLES, "--out", str(out),
                                   "--json").stdout)
    assert summary["shape"] == [3, 4] and summary["computed"] == 12 and summary["non_finite"] == 0
    with h5py.File(out) as f, h5py.File(tiny_run / "epoch-0002.h5") as checkpoint:
        assert f.attrs["format"] == "cellscape-surface" and f.attrs["norm"] == "filter, ignore biasbn"
        np.testing.assert_allclose(f["xcoordinates"][()], [-1, -1 / 3, 1 / 3, 1], rtol=1e-15)
        for name in ["train_loss", "train_acc", "test_loss", "test_acc", "gradient_variance", "completed"]:
            assert f[name].shape == (3, 4), name
        assert f["completed"][()].all() and (f["gradient_variance"][()] > 0).all()
        parameters = set(checkpoint["parameters"]) - {p for p in checkpoint["parameters"] if "auxiliary" in p}
        assert set(f["xdirection"]) == parameters == set(f["ydirection"])
        # biasbn: the direction is zero on every 1-D tensor (BatchNorm, the classifier's bias)
        assert not f["xdirection/classifier.bias"][()].any()
    assert not (tmp_path / "surface.h5.partial").exists() and not (tmp_path / "surface.h5.points").exists()


def test_sigterm_keeps_the_finished_points_and_the_same_command_resumes(cellscape, tiny_run, tmp_path):
    args = ["surface", "--checkpoint", str(tiny_run / "epoch-0002.h5"), "--x", "-1:1:6", "--y", "-1:1:5",
            "--eval", "test", *SAMPLES]
    cellscape(*args, "--out", str(tmp_path / "straight.h5"))

    out = tmp_path / "resumed.h5"
    process = subprocess.Popen([os.environ["CELLSCAPE"], *args, "--out", str(out)], stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "CELLSCAPE_PROGRESS_SECONDS": "0"})
    for line in process.stderr:
        match = re.match(r"surface: (\d+)/30 points", line)
        if match and int(match.group(1)) >= 4:
            process.send_signal(signal.SIGTERM)
            break
    message = process.stderr.read()
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert "rerun the same command to continue" in message
    assert not out.exists()
    assert (tmp_path / "resumed.h5.partial").exists()  # the slice; the values so far are in .points
    with h5py.File(tmp_path / "resumed.h5.points") as points:
        done = int(points["completed"][()].sum())
    assert 4 <= done < 30

    summary = json.loads(cellscape(*args, "--out", str(out), "--json").stdout)
    assert summary["resumed"] == done and summary["computed"] == 30 - done
    assert_same_points(per_point(out), per_point(tmp_path / "straight.h5"))


def test_slurm_array_shards_merge_into_the_single_run(cellscape, tiny_run, tmp_path):
    args = ["surface", "--checkpoint", str(tiny_run / "epoch-0002.h5"), "--x", "-1:1:5", "--y", "-1:1:2",
            "--eval", "test", *SAMPLES]
    cellscape(*args, "--out", str(tmp_path / "single.h5"))
    binary = os.environ["CELLSCAPE"]
    shards = []
    for task in (1, 2, 3):  # sbatch --array=1-3
        shards.append(tmp_path / f"shard-{task}.h5")
        env = {**os.environ, "SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_MIN": "1",
               "SLURM_ARRAY_TASK_COUNT": "3"}
        subprocess.run([binary, *args, "--out", str(shards[-1])], check=True, env=env, capture_output=True)
    with h5py.File(shards[1]) as f:
        assert f.attrs["shard"] == "1/3" and int(f["completed"][()].sum()) == 3
    incomplete = cellscape("merge", str(tmp_path / "merged.h5"), str(shards[0]), str(shards[2]), check=False)
    assert incomplete.returncode == 1 and "shards 1/3 are missing" in incomplete.stderr
    cellscape("merge", str(tmp_path / "merged.h5"), *map(str, shards))
    assert_same_points(per_point(tmp_path / "merged.h5"), per_point(tmp_path / "single.h5"))


def test_interpolation_runs_from_one_checkpoint_to_the_other(cellscape, tiny_run, tmp_path):
    first, second = str(tiny_run / "epoch-0001.h5"), str(tiny_run / "epoch-0002.h5")
    common = ["--eval", "test", "--sampling", "sequential", *SAMPLES]
    cellscape("surface", "--from", first, "--to", second, "--x", "-0.5:1.5:5", *common,
              "--out", str(tmp_path / "line.h5"))
    for checkpoint, name in [(first, "a.h5"), (second, "b.h5")]:
        cellscape("surface", "--checkpoint", checkpoint, "--x", "0:0:1", *common, "--out", str(tmp_path / name))
    line = per_point(tmp_path / "line.h5")["test_loss"]
    # float32 weights: w_A + 1 (w_B - w_A) differs from w_B by rounding only
    np.testing.assert_allclose(line[1], per_point(tmp_path / "a.h5")["test_loss"][0], rtol=1e-6)
    np.testing.assert_allclose(line[3], per_point(tmp_path / "b.h5")["test_loss"][0], rtol=1e-4)
    both_y = cellscape("surface", "--from", first, "--to", second, "--x", "0:1:2", "--y", "0:1:2", *common,
                       "--out", str(tmp_path / "bad.h5"), check=False)
    assert both_y.returncode == 1 and "interpolation between two checkpoints is 1D" in both_y.stderr


def test_hessian_eigenvectors_and_earlier_surfaces_give_the_directions(cellscape, tiny_run, tmp_path):
    checkpoint = str(tiny_run / "epoch-0002.h5")
    hessian = tmp_path / "hessian.h5"
    cellscape("hessian", "--checkpoint", checkpoint, "--group", "classifier", "--samples", "64", "--top-k", "2",
              "--eigenvectors", "--out", str(hessian))
    out = tmp_path / "along-eigenvectors.h5"
    cellscape("surface", "--checkpoint", checkpoint, "--group", "classifier", "--directions", f"hessian:{hessian}",
              "--x", "-0.1:0.1:3", "--y", "-0.1:0.1:3", "--eval", "test", *SAMPLES, "--out", str(out))
    with h5py.File(out) as f, h5py.File(hessian) as h:
        assert f.attrs["norm"] == "none, ignore none"
        for axis, index in [("xdirection", "0"), ("ydirection", "1")]:
            for name in h["eigenvectors"][index]:  # float64 eigenvectors, rounded to the model's float32
                np.testing.assert_allclose(f[axis][name][()], h["eigenvectors"][index][name][()], rtol=6e-8)
    again = tmp_path / "same-slice.h5"
    cellscape("surface", "--checkpoint", str(tiny_run / "epoch-0001.h5"), "--group", "classifier",
              "--directions-from", str(out), "--x", "0:1:2", "--eval", "test", *SAMPLES, "--out", str(again))
    with h5py.File(out) as f, h5py.File(again) as g:
        np.testing.assert_array_equal(f["xdirection/classifier.weight"][()], g["xdirection/classifier.weight"][()])
    missing = cellscape("surface", "--checkpoint", checkpoint, "--directions", f"hessian:{tmp_path / 'none.h5'}",
                        "--x", "0:1:2", *SAMPLES, "--out", str(tmp_path / "x.h5"), check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_bad_grid_specs_get_a_sentence_and_a_non_zero_exit(cellscape, tiny_run, tmp_path):
    checkpoint = str(tiny_run / "epoch-0002.h5")
    for spec, message in [("1:-1:5", "MIN must be less than MAX"), ("0:1:0", "--x: '0:1:0': NUM must be between 1 and 100000"),
                          ("text", "MIN:MAX:NUM"), ("0:1", "MIN:MAX:NUM")]:
        result = cellscape("surface", "--checkpoint", checkpoint, "--x", spec, "--out", str(tmp_path / "s.h5"),
                           check=False)
        assert result.returncode == 1 and message in result.stderr, (spec, result.stderr)
    result = cellscape("surface", "--checkpoint", checkpoint, "--x", "0:1:2", "--shard", "2/2",
                       "--out", str(tmp_path / "s.h5"), check=False)
    assert result.returncode == 1 and "0 <= I < N" in result.stderr
