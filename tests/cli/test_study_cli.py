"""`cellscape study` end to end on a tiny study: the summary against `cellscape
cell`, resume after SIGTERM skipping finished work, one failing cell not
losing the others, the figures, and the notebook executed against it."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from test_schema import check_against_schema

TINY_STUDY = """
name = "tiny"
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
seed = 2
loss_threshold = 2.15
[analysis]
epochs = [1, 2]
[analysis.hessian]
top_k = 1
tol = 0.1
ncv = 4
trace_max_probes = 3
density = true
slq_steps = 4
slq_runs = 1
samples = 32
batch_size = 32
by_part = "cell"
[analysis.surface]
x = "-1:1:3"
y = "-1:1:3"
samples = 32
batch_size = 32
gradient_variance = true
gv_batches = 2
gv_batch_size = 16
[analysis.gradient_variance]
batches = 3
batch_size = 16
by_part = "cell"
[analysis.proxies]
enabled = true
samples = 32
"""


def without_costs(rows):
    """Replicate rows without what they cost (train_seconds, analysis_seconds): those differ between runs."""
    return [{k: v for k, v in row.items() if not k.endswith("_seconds")} for row in rows]


def outputs(directory):
    """Every file of a study with its modification time."""
    return {p: p.stat().st_mtime_ns for p in directory.rglob("*.h5") if p.name != "summary.h5"}


@pytest.fixture(scope="module")
def study(cellscape, tmp_path_factory):
    directory = tmp_path_factory.mktemp("study")
    config = directory / "tiny.toml"
    config.write_text(TINY_STUDY)
    out = directory / "out"
    result = json.loads(cellscape("study", str(config), "--out", str(out), "--json").stdout)
    return config, out, result


def test_the_summary_has_a_row_per_cell_and_checkpoint_with_cellscape_cells_widths(cellscape, study):
    config, out, result = study
    assert result["failed_replicates"] == 0
    assert [(r["cell"], r["epoch"]) for r in result["replicates"]] == [
        ("DARTS_V2", 1), ("DARTS_V2", 2), ("DARTS_V2-chain-normal", 1), ("DARTS_V2-chain-normal", 2)]
    for row in result["replicates"]:
        cell = json.loads(cellscape("cell", row["cell"].replace("-chain-normal", ":chain"), "--json").stdout)
        assert (row["normal_width"], row["normal_depth"]) == (cell["normal"]["width"], cell["normal"]["depth"])
        assert (row["reduce_width"], row["reduce_depth"]) == (cell["reduce"]["width"], cell["reduce"]["depth"])
        assert row["top_eigenvalue"] is not None and row["gradient_variance"] > 0
        # The proxies of the cell's initial network: the same in both epochs' rows, as its file says.
        with h5py.File(out / row["directory"] / "proxies-epoch-0000.h5") as f:
            for proxy in ["grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov", "naswot", "zico"]:
                assert row[proxy] == f.attrs[proxy], proxy
            assert f.attrs["model_source"].endswith("(initial weights)")
        # Recomputed from the checkpoint's step losses: 8 steps per epoch, a
        # window of 2 steps, the first step whose window mean is <= 2.15.
        with h5py.File(out / row["directory"] / "train" / f"epoch-{row['epoch']:04d}.h5") as f:
            losses = f["history/step/loss"][()][:8 * row["epoch"]]
        means = (losses[1:] + losses[:-1]) / 2
        below = np.flatnonzero(means <= 2.15)
        # Never reached: censored one step after the epoch's last step.
        expected = (below[0] + 2) / 8 if below.size else (8 * row["epoch"] + 1) / 8
        assert row["epochs_to_threshold"] == pytest.approx(expected)
        assert row["censored"] == (0 if below.size else 1)
        # The last epoch's share of the loss's decrease since epoch 1: all of it at epoch 2, undefined at 1.
        assert row["last_epoch_share"] == (1.0 if row["epoch"] == 2 else None)
    # The threshold is crossed inside an epoch, where only the moving window can find it.
    assert any(not r["censored"] and r["epochs_to_threshold"] % 1 for r in result["replicates"])
    check_against_schema(out / "summary.h5", "cellscape-study")
    with h5py.File(out / "summary.h5") as f:
        assert [c.decode() for c in f["replicates/cell"][()]] == [r["cell"] for r in result["replicates"]]
        assert len(f["parts/part"]) == 5 * len(result["replicates"])
    # by_part = "cell": each replicate's parts (stem, the 3 cells, the classifier) beside its row; a
    # partition, so the trace shares and variances sum to the row's (the same probes and batches).
    for row in result["replicates"]:
        mine = [p for p in result["parts"] if (p["directory"], p["epoch"]) == (row["directory"], row["epoch"])]
        assert [p["part"] for p in mine] == ["stem", "cells.0", "cells.1", "cells.2", "classifier"]
        assert sum(p["trace"] for p in mine) == pytest.approx(row["trace"], rel=1e-9)
        assert sum(p["gradient_variance"] for p in mine) == pytest.approx(row["gradient_variance"], rel=1e-9)
        assert all(p["seed"] == row["seed"] and p["parameters"] > 0 for p in mine)
    for name in ["cell.png", "train/epoch-0001.h5", "train/epoch-0002.h5", "hessian-epoch-0001.h5",
                 "surface-epoch-0002.h5", "gradvar-epoch-0002.h5"]:
        assert (out / "DARTS_V2-chain-normal" / name).exists(), name


def test_a_rerun_skips_finished_work(cellscape, study):
    config, out, result = study
    before = outputs(out)
    again = json.loads(cellscape("study", str(config), "--out", str(out), "--json").stdout)
    assert outputs(out) == before
    assert again["replicates"] == result["replicates"]


def test_sigterm_stops_the_study_and_the_rerun_finishes_only_what_is_missing(cellscape, study, tmp_path):
    config, finished, result = study
    out = tmp_path / "out"
    process = subprocess.Popen([os.environ["CELLSCAPE"], "study", str(config), "--out", str(out)],
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "CELLSCAPE_PROGRESS_SECONDS": "0"})
    for line in process.stderr:
        if "replicate 2/2" in line:
            process.send_signal(signal.SIGTERM)
            break
    process.stderr.read()
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    first_cell = {p: t for p, t in outputs(out).items() if "DARTS_V2-chain-normal" not in str(p)}
    assert len(first_cell) >= 6
    rerun = json.loads(cellscape("study", str(config), "--out", str(out), "--json").stdout)
    assert {p: t for p, t in outputs(out).items() if p in first_cell} == first_cell
    assert [r["test_loss"] for r in rerun["replicates"]] == [r["test_loss"] for r in result["replicates"]]


def with_a_broken_first_cell(out):
    """A study directory whose first cell's training state is not a checkpoint."""
    broken = out / "DARTS_V2" / "train" / "latest.h5"
    broken.parent.mkdir(parents=True)
    broken.write_text("not a checkpoint")
    return out


def test_a_failing_cell_is_reported_and_the_others_are_kept(cellscape, study, tmp_path):
    config, _, _ = study
    out = with_a_broken_first_cell(tmp_path / "out")
    result = cellscape("study", str(config), "--out", str(out), check=False)
    assert result.returncode == 1 and "1 replicate(s) failed" in result.stderr
    assert "DARTS_V2" in result.stdout and "failed:" in result.stdout
    with h5py.File(out / "summary.h5") as f:
        status = [s.decode() for s in f["replicates/status"][()]]
    assert status[0].startswith("failed:") and status[1:] == ["ok", "ok"]


def test_replicates_side_by_side_equal_the_sequential_study(cellscape, study, tmp_path):
    config, _, result = study
    out = tmp_path / "out"
    parallel = json.loads(cellscape("study", str(config), "--out", str(out), "--jobs", "2", "--json").stdout)
    assert parallel["failed_replicates"] == 0
    # threads = 1: each child computes what the sequential study computed, to the bit (all but what it cost).
    assert without_costs(parallel["replicates"]) == without_costs(result["replicates"])
    for cell in ("DARTS_V2", "DARTS_V2-chain-normal"):
        assert "epoch 2/2" in (out / cell / "study.log").read_text()


def child_processes(parent):
    children = []
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def running(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_a_stopped_side_by_side_study_stops_its_replicates_and_the_rerun_finishes(cellscape, study, tmp_path,
                                                                                  signal_number):
    """kill -9 leaves the children to the kernel (PR_SET_PDEATHSIG); SIGTERM is passed on to them."""
    config, _, result = study
    out = tmp_path / "out"
    process = subprocess.Popen([os.environ["CELLSCAPE"], "study", str(config), "--out", str(out), "--jobs", "2"],
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "CELLSCAPE_PROGRESS_SECONDS": "0"})
    for line in process.stderr:
        if "replicate 2/2" in line:
            break
    logs = [out / cell / "study.log" for cell in ("DARTS_V2", "DARTS_V2-chain-normal")]
    deadline = time.monotonic() + 60
    while not all(log.exists() and "train " in log.read_text() for log in logs):
        assert time.monotonic() < deadline, "the replicates did not start training"
        time.sleep(0.05)
    children = child_processes(process.pid)
    assert len(children) == 2
    process.send_signal(signal_number)
    process.stderr.read()
    assert process.wait(timeout=120) == (-signal.SIGKILL if signal_number == signal.SIGKILL else 128 + signal_number)
    deadline = time.monotonic() + 60
    while any(running(pid) for pid in children):
        assert time.monotonic() < deadline, "the replicates outlived the killed study"
        time.sleep(0.1)
    assert any("interrupted" in log.read_text() for log in logs)
    rerun = json.loads(cellscape("study", str(config), "--out", str(out), "--jobs", "2", "--json").stdout)
    assert without_costs(rerun["replicates"]) == without_costs(result["replicates"])


def test_a_failing_replicate_side_by_side_is_named_with_its_error_and_log(cellscape, study, tmp_path):
    config, _, _ = study
    out = with_a_broken_first_cell(tmp_path / "out")
    result = cellscape("study", str(config), "--out", str(out), "--jobs", "2", check=False)
    assert result.returncode == 1 and "1 replicate(s) failed" in result.stderr
    failure = next(line for line in result.stderr.splitlines() if line.startswith("replicate 1 failed: DARTS_V2"))
    assert "latest.h5" in failure and f"(log: {out / 'DARTS_V2' / 'study.log'})" in failure
    with h5py.File(out / "summary.h5") as f:
        status = [s.decode() for s in f["replicates/status"][()]]
    assert status[0].startswith("not finished") and status[1:] == ["ok", "ok"]  # one row: never analysed


def test_jobs_needs_a_whole_local_study(cellscape, study):
    config, out, _ = study
    zero = cellscape("study", str(config), "--out", str(out), "--jobs", "0", check=False)
    assert zero.returncode == 1 and "--jobs 0: must be at least 1" in zero.stderr
    one_replicate = cellscape("study", str(config), "--out", str(out), "--jobs", "2", "--replicate-index", "0",
                              check=False)
    assert one_replicate.returncode == 1 and "drop it with --slurm, --replicate-index" in one_replicate.stderr


def test_the_figures_and_the_notebook_run_on_the_study(study, tmp_path):
    _, out, _ = study
    python = sys.executable  # the project's one Python (CELLSCAPE_PYTHON), which runs pytest
    plotted = subprocess.run([python, "-m", "cellscape_plots", "study", str(out)], capture_output=True, text=True)
    assert plotted.returncode == 0, plotted.stderr
    for name in ["cells", "loss-curves", "loss-contours", "loss-contours-linear", "gradient-variance-surfaces",
                 "hessian", "scatter", "proxies"]:
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000, name
        assert (out / "figures" / f"{name}.pdf").exists(), name
    notebook = pathlib.Path(os.environ["CELLSCAPE_NOTEBOOK"])
    executed = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute", str(notebook),
                               "--output-dir", str(tmp_path), "--ExecutePreprocessor.timeout=300"],
                              capture_output=True, text=True, env={**os.environ, "CELLSCAPE_STUDY": str(out)})
    assert executed.returncode == 0, executed.stderr[-3000:]
    assert "DARTS_V2-chain-normal" in (tmp_path / "explore.ipynb").read_text()


@pytest.mark.parametrize("name, replicates", [("quick", 10), ("evidence", 81), ("paper-cifar10", 162),
                                             ("powered", 300)])
def test_the_shipped_studies_are_valid_and_have_the_documented_size(cellscape, tmp_path, name, replicates):
    """Every setting of data/studies/NAME.toml is checked (a dry Slurm submission trains nothing), and its
    array has one task per (cell, seed): 5 x 2, 27 x 3, 54 x 3 and 150 x 2. The paper's config asks for a GPU; the
    check runs it on the CPU."""
    source = pathlib.Path(__file__).resolve().parents[2] / "data" / "studies" / f"{name}.toml"
    config = tmp_path / source.name
    config.write_text(source.read_text().replace('device = "cuda"', 'device = "cpu"'))
    dry = cellscape("study", str(config), "--out", str(tmp_path / "out"), "--slurm", "--dry-run")
    array = next(line for line in dry.stdout.splitlines() if line.startswith("#SBATCH --array="))
    assert array == "#SBATCH --array=" + ",".join(str(i) for i in range(replicates))
