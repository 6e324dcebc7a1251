"""Red team, class "ranges": every value in its range, by one rule wherever
it is given. Seeds follow util/seed.hpp in every command, cell spec and
study file; a cell-spec key given twice, a grid whose spacing overflows, a
minimum above its maximum, and a checkpoint whose counters, generator state
or BatchNorm buffers do not fit its own run are refused with one sentence."""
import json

import h5py
import numpy as np
import pytest

from hostile import SMALL, edited_copy, refused, replace_dataset, run

BAD_SEEDS = ["-1", "18446744073709551615", "18446744073709551617", "9223372036854775808", "1.5", "0x10", " 7", ""]


def seed_commands(tiny_run, tmp_path):
    checkpoint = tiny_run / "epoch-0002.h5"
    return {
        "sample": ["sample", "--count", "1"],
        "variants": ["variants", "DARTS_V2", "--kind", "random-ops"],
        "train": ["train", "--cell", "DARTS_V2", "--epochs", "1", "--train-size", "64", "--test-size", "32",
                  "--init-channels", "4", "--layers", "3", "--out", tmp_path / "run"],
        "hessian": ["hessian", "--checkpoint", checkpoint, "--top-k", "1", *SMALL],
        "gradvar": ["gradvar", "--checkpoint", checkpoint, "--batches", "2", "--batch-size", "16"],
        "surface": ["surface", "--checkpoint", checkpoint, "--x", "-1:1:3", *SMALL, "--out", tmp_path / "s.h5"],
    }


@pytest.mark.parametrize("seed", BAD_SEEDS)
@pytest.mark.parametrize("command", ["sample", "variants", "train", "hessian", "gradvar", "surface"])
def test_every_command_refuses_a_seed_outside_the_one_rule(tiny_run, tmp_path, command, seed):
    result = run(*seed_commands(tiny_run, tmp_path)[command], "--seed", seed)
    refused(result, "--seed:", "seeds are whole numbers from 0 to 9223372036854775807")
    assert not (tmp_path / "run").exists() and not (tmp_path / "s.h5").exists()


def test_the_largest_seed_is_the_same_everywhere(tmp_path):
    largest = "9223372036854775807"
    drawn = run("sample", "--count", "1", "--seed", largest, "--json")
    assert drawn.returncode == 0, drawn.stderr
    spec = run("cell", f"random:count=1,seed={largest}", "--json")
    assert spec.returncode == 0, spec.stderr
    assert json.loads(drawn.stdout)[0]["genotype"] == json.loads(spec.stdout)["genotype"]  # one cell by either route
    refused(run("cell", "random:count=1,seed=9223372036854775808"), "seed=9223372036854775808 is not a seed")
    refused(run("cell", "random:count=1,seed=-1"), "seed=-1 is not a seed")


STUDY = """
{seeds}
cells = ["DARTS_V2"]
[data]
dataset = "fashion-mnist"
train_size = 64
test_size = 32
[training]
epochs = 1
{training}
[analysis]
{analysis}
"""


@pytest.mark.parametrize("seeds, training, analysis, key", [
    ("seeds = [1, -1]", "", "", "seeds"),
    ("", "seed = -1", "", "[training] seed"),
    ("", "", "seed = -5", "[analysis] seed"),
])
def test_a_study_file_refuses_negative_seeds_by_the_same_rule(tmp_path, seeds, training, analysis, key):
    config = tmp_path / "study.toml"
    config.write_text(STUDY.format(seeds=seeds, training=training, analysis=analysis))
    message = refused(run("study", config, "--out", tmp_path / "out"), "seeds are whole numbers")
    assert key.split()[-1] in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("spec, fragment", [
    ("DARTS_V2:random-connections:count=2,seed=5,seed=6", "option 'seed' is given twice"),
    ("DARTS_V2:random-ops:count=2,count=3", "option 'count' is given twice"),
    ("random:count=1,nodes=4,nodes=4", "option 'nodes' is given twice"),
])
def test_a_cell_spec_key_given_twice_is_refused(spec, fragment):
    refused(run("cell", spec), fragment)


@pytest.mark.parametrize("x", ["-1e308:1e308:3", "0:5e-324:3", "1e308:inf:3", "nan:1:3"])
def test_grids_whose_points_are_not_distinct_finite_numbers_are_refused(tiny_run, tmp_path, x):
    result = run("surface", "--checkpoint", tiny_run / "epoch-0002.h5", "--x", x, *SMALL, "--out", tmp_path / "s.h5")
    refused(result, "--x:")
    assert not (tmp_path / "s.h5").exists()


def test_a_minimum_above_its_maximum_is_refused(tiny_run):
    result = run("hessian", "--checkpoint", tiny_run / "epoch-0002.h5", "--top-k", "1", *SMALL, "--min-hvps", "50",
                 "--max-hvps", "10")
    refused(result, "--min-hvps:", "50", "10")


def set_attribute(name, value):
    def change(f):
        f.attrs[name] = value
    return change


def edit_dataset(name, edit):
    def change(f):
        values = f[name][()]
        edit(values)
        f[name][...] = values
    return change


def nan_first(values):
    values[0] = np.nan


def shifted(values):
    values += 0.25


@pytest.mark.parametrize("change, fragment", [
    (set_attribute("epoch", -1), "it says -1 epochs are finished"),
    (set_attribute("epoch", 99), "it says 99 epochs are finished"),
    (set_attribute("step_in_epoch", 10 ** 12), "its step within the epoch, 1000000000000"),
    (set_attribute("step_in_epoch", -3), "its step within the epoch, -3"),
    (replace_dataset("rng/cpu_state", data=np.zeros(10, np.uint8)), "random generator state has 10 values"),
    (edit_dataset("buffers/stem.1.running_mean", nan_first), "buffer 'stem.1.running_mean' holds NaN"),
    (replace_dataset("buffers/stem.1.running_var", data=np.ones(12, np.int32)), "buffer 'stem.1.running_var' is stored"),
    (edit_dataset("buffers/stem.1.running_var", shifted), "do not match the buffers_hash"),
])
def test_a_checkpoint_whose_counters_or_buffers_do_not_fit_its_run_is_refused(tiny_run, tmp_path, change, fragment):
    crafted = edited_copy(tiny_run / "epoch-0001.h5", tmp_path / "crafted.h5", change)
    for args in (["hessian", "--checkpoint", crafted, "--top-k", "1", *SMALL],
                 ["train", "--resume", crafted, "--out", tmp_path / "run"]):
        refused(run(*args), str(crafted), fragment)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").glob("*.h5"))


@pytest.mark.parametrize("values, fragment", [
    (lambda shape: np.ones(shape, np.int32), "not as floating-point numbers"),
    (lambda shape: np.full(shape, np.nan, np.float32), "holds NaN or infinite values"),
])
def test_directions_are_checked_like_weights(tiny_run, tmp_path, values, fragment):
    checkpoint = tiny_run / "epoch-0002.h5"
    surface = tmp_path / "surface.h5"
    assert run("surface", "--checkpoint", checkpoint, "--x", "-1:1:3", *SMALL, "--out", surface).returncode == 0
    with h5py.File(surface) as f:
        name = sorted(f["xdirection"])[0]
        shape = f[f"xdirection/{name}"].shape
    crafted = edited_copy(surface, tmp_path / "crafted.h5",
                          replace_dataset(f"xdirection/{name}", data=values(shape)))
    refused(run("surface", "--checkpoint", checkpoint, "--directions-from", crafted, "--x", "-1:1:3", *SMALL,
                "--out", tmp_path / "again.h5"), str(crafted), fragment)
    assert not (tmp_path / "again.h5").exists()


@pytest.mark.parametrize("flag", ["--crop-padding", "--cutout"])
def test_augmentation_sizes_beyond_the_image_are_refused(tmp_path, flag):
    # A pad of 10^5 pixels used to ask LibTorch for 10 TB (exit 70); a cutout wider than the image blanks all.
    result = run("train", "--cell", "DARTS_V2", "--epochs", "1", "--train-size", "64", "--test-size", "32",
                 "--init-channels", "4", "--layers", "3", flag, "100000", "--out", tmp_path / "run")
    refused(result, f"{flag}: is 100000 pixels", "28 x 28: at most 28")
    assert "epoch 1/1" not in result.stderr
