"""Hostile input to the commands added since the first red-team pass (issue 41): `proxies`, `study plan`, the
files a study reads back (proxies, by_part), epoch 0 added to a finished run, seeds beyond 2^63 - 1, and a study
whose analyses do not fit its data. Each case asserts the exit status, the sentence, and that nothing finished
was lost or overwritten."""
import json
import os
import pathlib
import shutil

import h5py
import numpy as np
import pytest
import torch
import torch.nn as nn

from hostile import TINY_STUDY_ANALYSES, TINY_STUDY_TRAINING, edited_copy, refused, run, snapshot

ROOT = pathlib.Path(__file__).resolve().parents[2]
PILOT = ROOT / "docs" / "findings" / "quick" / "summary.h5"
WEIGHT_PROXIES = ("grad_norm", "snip", "grasp", "synflow", "zico")


# ---------------------------------------------------------------- models

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(1, 4, 3, padding=1)
        self.b = nn.BatchNorm2d(4)
        self.l = nn.Linear(4 * 28 * 28, 10)

    def forward(self, x):
        return self.l(torch.relu(self.b(self.c(x))).flatten(1))


class NoParameters(nn.Module):
    def forward(self, x):
        return x.flatten(1)[:, :10]


class BiasOnly(nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        return x.flatten(1)[:, :10] + self.bias


class BuffersOnly(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("w", torch.randn(784, 10))

    def forward(self, x):
        return x.flatten(1) @ self.w


class FlatLogits(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(784, 1)

    def forward(self, x):
        return self.l(x.flatten(1)).flatten()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("models")
    torch.jit.script(Net()).save(str(d / "net.pt"))
    torch.jit.script(NoParameters()).save(str(d / "no-parameters.pt"))
    torch.jit.script(BiasOnly()).save(str(d / "bias-only.pt"))
    torch.jit.script(BuffersOnly()).save(str(d / "buffers-only.pt"))
    torch.jit.script(FlatLogits()).save(str(d / "flat-logits.pt"))
    torch.jit.freeze(torch.jit.script(Net().eval())).save(str(d / "frozen.pt"))
    poisoned = Net()
    with torch.no_grad():
        poisoned.c.weight[0, 0, 0, 0] = float("nan")
    torch.jit.script(poisoned).save(str(d / "nan-weight.pt"))
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    for name, (images, labels) in {"data": (x, y), "label-13": (x, np.where(np.arange(64) == 3, 13, y)),
                                   "nan-pixel": (np.where(np.arange(64)[:, None, None, None] == 5, np.nan, x), y)}.items():
        with h5py.File(d / f"{name}.h5", "w") as f:
            f["x"], f["y"] = images, labels
    os.mkfifo(d / "fifo.pt")
    return d


def proxies(models, model, *args, data="data.h5", timeout=120):
    return run("proxies", "--torchscript", models / model, "--data", models / data, "--samples", "32", "--threads",
               "1", *args, timeout=timeout)


class TestProxies:
    def test_labels_beyond_the_classes_are_refused_before_any_proxy(self, models):
        refused(proxies(models, "net.pt", data="label-13.h5"), "logits of shape [32, C] with C >= 14",
                "the model does not fit the data")

    def test_flat_logits_are_refused(self, models):
        refused(proxies(models, "flat-logits.pt"), "output has shape [32]")

    @pytest.mark.parametrize("model", ["no-parameters.pt", "bias-only.pt", "buffers-only.pt", "frozen.pt"])
    def test_a_model_without_layer_weights_gets_the_other_proxies_and_the_reasons(self, models, model, tmp_path):
        out = tmp_path / "p.h5"
        result = proxies(models, model, "--out", out, "--json")
        assert result.returncode == 0, result.stderr
        scores = json.loads(result.stdout)
        for proxy in WEIGHT_PROXIES:
            assert proxy not in scores
            assert "needs the gradients of layer weights" in scores["refused"][proxy]
        assert np.isfinite(scores["jacob_cov"])
        if model == "frozen.pt":  # its layers are still there for fisher and naswot; the reason names the way out
            assert "torch.jit.freeze" in scores["refused"]["grad_norm"]
            assert np.isfinite(scores["fisher"]) and np.isfinite(scores["naswot"])
        with h5py.File(out) as f:  # the file records each refusal, never a NaN without a reason
            for proxy, reason in scores["refused"].items():
                assert proxy not in f.attrs and f.attrs[f"{proxy}_refused"] == reason
            assert f.attrs["format_version"] == 2

    def test_the_frozen_model_as_saved_is_refused_for_the_weight_proxies_too(self, models):
        result = proxies(models, "frozen.pt", "--torchscript-as-saved", "--json")
        assert result.returncode == 0, result.stderr
        assert "torch.jit.freeze" in json.loads(result.stdout)["refused"]["snip"]

    def test_only_proxies_the_model_cannot_give_is_one_sentence(self, models, tmp_path):
        out = tmp_path / "kept.h5"
        out.write_bytes(b"finished work")
        result = proxies(models, "frozen.pt", "--proxies", "grad_norm,snip", "--out", out, "--force")
        refused(result, "--proxies: has no proxy this model gives a value for", "grad_norm needs the gradients",
                "torch.jit.freeze")
        assert out.read_bytes() == b"finished work"

    @pytest.mark.parametrize("command", ["proxies", "hessian"])
    def test_a_fifo_as_the_model_is_refused_not_waited_on(self, models, command):
        result = run(command, "--torchscript", models / "fifo.pt", "--data", models / "data.h5", "--samples", "32",
                     timeout=30)
        refused(result, "--torchscript", "FIFO", "not a regular file")

    def test_data_with_a_checkpoint_is_refused_not_ignored(self, models, tiny_run):
        refused(run("proxies", "--checkpoint", tiny_run / "epoch-0001.h5", "--data", models / "data.h5", "--samples",
                    "32", "--threads", "1"),
                "--data", "applies to a --torchscript model", "--dataset h5:")

    def test_a_nan_pixel_is_refused(self, models):
        refused(proxies(models, "net.pt", data="nan-pixel.h5"), "nan-pixel.h5", "NaN or infinite values",
                "sample 5")

    def test_a_nan_weight_is_refused(self, models):
        refused(proxies(models, "nan-weight.pt"), "nan-weight.pt", "parameter 'c.weight' holds NaN")


# ---------------------------------------------------------------- study plan

def pilot_copy(tmp_path, change):
    return edited_copy(PILOT, tmp_path / "summary.h5", change)


def set_column(name, function):
    def change(f):
        values = function(f[f"replicates/{name}"][()])
        del f[f"replicates/{name}"]
        f[f"replicates/{name}"] = values
    return change


class TestStudyPlan:
    def test_the_committed_pilot_plans(self):
        assert run("study", "plan", PILOT, "--json").returncode == 0

    def test_a_newer_format_version_is_refused(self, tmp_path):
        pilot = pilot_copy(tmp_path, lambda f: f.attrs.modify("format_version", 99))
        refused(run("study", "plan", pilot), "format version 99, newer than this cellscape", "(at most 4)")

    def test_every_replicate_claiming_seed_1_is_refused(self, tmp_path):
        pilot = pilot_copy(tmp_path, set_column("seed", lambda seeds: np.ones_like(seeds)))
        refused(run("study", "plan", pilot), "lists DARTS_V2 seed 1 at epoch", "twice", "damaged or was edited")

    def test_a_negative_duration_is_refused(self, tmp_path):
        pilot = pilot_copy(tmp_path, set_column("train_seconds", lambda s: np.where(np.arange(len(s)) == 2, -5.0, s)))
        refused(run("study", "plan", pilot), "train_seconds = -5", "damaged or was edited")

    def test_seeds_above_2_to_the_53_stay_distinct(self, tmp_path):
        # Seeds are integers up to 2^63 - 1; read through a double, 10^17 + 1 and 10^17 + 2 were one seed.
        pilot = pilot_copy(tmp_path, set_column("seed", lambda seeds: seeds.astype(np.int64) + 10 ** 17))
        assert run("study", "plan", pilot, "--json").returncode == 0

    def test_a_metric_the_pilot_did_not_measure_is_refused(self):
        refused(run("study", "plan", PILOT, "--metric", "grad_norm"), "--metric", "names grad_norm",
                "no replicate of the pilot")


# ---------------------------------------------------------------- studies

def write_study(tmp_path, body, name="study.toml"):
    config = tmp_path / name
    config.write_text(body)
    return config


class TestStudyChecksItsAnalysesBeforeTraining:
    def test_an_unnamed_analysis_default_too_large_for_the_data_is_named_before_training(self, tmp_path):
        body = ('cells = ["DARTS_V2"]\nthreads = 1\n' + TINY_STUDY_TRAINING
                + "[analysis.hessian]\nsamples = 64\nbatch_size = 32\n")
        result = run("study", write_study(tmp_path, body), "--out", tmp_path / "out")
        refused(result, "[analysis.gradient_variance] batches x batch_size = 10 x 64", "640 images",
                "[data] train_size 128", "lower batches or batch_size")
        assert not (tmp_path / "out" / "DARTS_V2").exists()  # nothing trained

    def test_the_surface_default_against_the_test_split(self, tmp_path):
        body = ('cells = ["DARTS_V2"]\nthreads = 1\n' + TINY_STUDY_TRAINING
                + "[analysis.hessian]\nsamples = 64\n[analysis.gradient_variance]\nbatches = 2\nbatch_size = 32\n")
        refused(run("study", write_study(tmp_path, body), "--out", tmp_path / "out"),
                "[analysis.surface] samples = 500", "[data] test_size 64")

    @pytest.mark.parametrize("key", ["seeds = [18446744073709551615]", "seeds = [9223372036854775808]"])
    def test_a_seed_beyond_the_rule_is_refused_not_saturated(self, tmp_path, key):
        body = key + '\ncells = ["DARTS_V2"]\n' + TINY_STUDY_TRAINING + TINY_STUDY_ANALYSES
        refused(run("study", write_study(tmp_path, body), "--out", tmp_path / "out"), "seeds", key[9:-1],
                "seeds are whole numbers from 0 to 9223372036854775807")

    def test_an_analysis_epoch_listed_twice_is_refused(self, tmp_path):
        body = ('cells = ["DARTS_V2"]\n' + TINY_STUDY_TRAINING + TINY_STUDY_ANALYSES
                + "[analysis]\nepochs = [1, 1]\n")
        refused(run("study", write_study(tmp_path, body), "--out", tmp_path / "out"), "[analysis] epochs",
                "lists 1 twice")

    def test_a_training_seed_beyond_the_rule_is_refused(self, tmp_path):
        body = ('cells = ["DARTS_V2"]\n' + TINY_STUDY_TRAINING + "seed = 18_446_744_073_709_551_615\n"
                + TINY_STUDY_ANALYSES)
        refused(run("study", write_study(tmp_path, body), "--out", tmp_path / "out"), "[training] seed",
                "18446744073709551615", "seeds are whole numbers")


PROXY_STUDY = ('name = "proxied"\ncells = ["DARTS_V2"]\nthreads = 1\n' + TINY_STUDY_TRAINING
               + "[analysis.hessian]\nsamples = 64\nbatch_size = 32\ntrace = false\n"
               + "[analysis.gradient_variance]\nenabled = false\n[analysis.surface]\nenabled = false\n"
               + '[analysis.proxies]\nenabled = true\nproxies = ["grad_norm", "snip"]\nsamples = 32\n')


def finished_study(tmp_path_factory, name, body):
    """(config, out): the study `body` run to the end in a directory of its own."""
    d = tmp_path_factory.mktemp(name)
    config = write_study(d, body)
    result = run("study", config, "--out", d / "out", "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    return config, d / "out"


def rerun_with_a_file_changed(study, file, change):
    """The study rerun on a copy of its finished directory in which the replicate's `file` was changed by
    change(h5py.File); asserts that the training was neither redone nor touched."""
    config, out = study
    copy = out.parent / f"copy-{len(list(out.parent.iterdir()))}"
    shutil.copytree(out, copy)
    path = copy / "DARTS_V2" / file
    assert path.exists(), sorted(p.name for p in (copy / "DARTS_V2").iterdir())
    with h5py.File(path, "r+") as f:
        change(f)
    train_before = snapshot(copy / "DARTS_V2" / "train")
    result = run("study", config, "--out", copy, "--json", timeout=600)
    assert snapshot(copy / "DARTS_V2" / "train") == train_before  # training is never redone or touched
    return result, copy


@pytest.fixture(scope="module")
def proxy_study(tmp_path_factory):
    return finished_study(tmp_path_factory, "proxy-study", PROXY_STUDY)


class TestStudyFilesReadBack:
    def rerun(self, proxy_study, change):
        return rerun_with_a_file_changed(proxy_study, "proxies-epoch-0000.h5", change)

    def test_a_nan_planted_in_a_finished_proxies_file_fails_the_replicate_by_name(self, proxy_study):
        result, copy = self.rerun(proxy_study, lambda f: f.attrs.modify("snip", float("nan")))
        assert result.returncode != 70, result.stderr
        assert "proxies-epoch-0000.h5: the proxy snip is nan without a reason recorded" in result.stderr
        assert "delete it and run the study again" in result.stderr

    def test_a_proxies_file_relabelled_as_another_format_is_refused(self, proxy_study):
        result, copy = self.rerun(proxy_study, lambda f: f.attrs.modify("format", "cellscape-hessian"))
        assert result.returncode != 70, result.stderr
        assert "is a cellscape-hessian file, not a cellscape-proxies" in result.stderr

    def test_a_newer_proxies_file_is_refused(self, proxy_study):
        result, copy = self.rerun(proxy_study, lambda f: f.attrs.modify("format_version", 99))
        assert "format version 99, newer than this cellscape" in result.stderr


PARTS_STUDY = ('name = "parts"\ncells = ["DARTS_V2"]\nthreads = 1\n' + TINY_STUDY_TRAINING
               + '[analysis.hessian]\nsamples = 64\nbatch_size = 32\ntrace = false\nby_part = "cell"\n'
               + '[analysis.gradient_variance]\nbatches = 2\nbatch_size = 32\nby_part = "cell"\n'
               + "[analysis.surface]\nenabled = false\n")


@pytest.fixture(scope="module")
def parts_study(tmp_path_factory):
    return finished_study(tmp_path_factory, "parts-study", PARTS_STUDY)


class TestByPart:
    def test_an_unknown_level_is_refused_before_training(self, tmp_path):
        body = PARTS_STUDY.replace('by_part = "cell"\n[analysis.surface]', 'by_part = "layer"\n[analysis.surface]')
        result = run("study", write_study(tmp_path, body), "--out", tmp_path / "out")
        refused(result, "[analysis.gradient_variance] by_part", "layer")
        assert not (tmp_path / "out" / "DARTS_V2").exists()

    @pytest.mark.parametrize("analysis,column", [("hessian", "parameters"), ("gradvar", "variance")])
    def test_a_parts_table_with_a_short_column_fails_its_replicate_by_name(self, parts_study, analysis, column):
        def shorten(f):
            values = f[f"parts/{column}"][()]
            del f[f"parts/{column}"]
            f[f"parts/{column}"] = values[:-1]
        name = f"{analysis}-epoch-0001.h5"
        result, _ = rerun_with_a_file_changed(parts_study, name, shorten)
        assert result.returncode != 70, result.stderr
        assert f"{name}: its parts table has" in result.stderr and f"values in parts/{column}" in result.stderr
        assert "delete it and run the study again" in result.stderr


# ---------------------------------------------------------------- epoch 0

def test_epoch_0_added_to_a_finished_run_is_written(tmp_path):
    args = ["train", "--cell", "DARTS_V2", "--dataset", "fashion-mnist", "--train-size", "64", "--test-size", "32",
            "--batch-size", "32", "--init-channels", "4", "--layers", "3", "--epochs", "1", "--threads", "1",
            "--seed", "5", "--out", tmp_path / "run"]
    assert run(*args).returncode == 0
    finished = snapshot(tmp_path / "run")
    result = run(*args, "--checkpoint-epochs", "0,1")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "epoch-0000.h5").exists(), result.stderr
    assert "initial weights were rebuilt from the seed" in result.stderr
    assert snapshot(tmp_path / "run")["epoch-0001.h5"] == finished["epoch-0001.h5"]  # the finished epoch kept
    fresh = run(*args[:-1], tmp_path / "fresh", "--checkpoint-epochs", "0,1")
    assert fresh.returncode == 0
    with h5py.File(tmp_path / "run" / "epoch-0000.h5") as a, h5py.File(tmp_path / "fresh" / "epoch-0000.h5") as b:
        assert a.attrs["weights_hash"] == b.attrs["weights_hash"]
        for name in a["parameters"]:
            assert np.array_equal(a["parameters"][name][()], b["parameters"][name][()])
