"""`cellscape study --slurm` through a real single-node Slurm that this test
starts (munged, slurmctld, slurmd from Debian's slurm-wlm and munge, all
configured in a temporary directory) and stops (only the daemons it
started). The summary must equal the one of a local run. If Slurm cannot
start, the test fails with the daemons' logs, unless CELLSCAPE_SKIP_SLURM=1."""
import json
import os
import signal
import socket
import subprocess
import time

import h5py
import numpy as np
import pytest

from test_schema import datasets_of
from test_study_cli import TINY_STUDY


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def logs(directory):
    text = ""
    for name in ["munged.log", "slurmctld.log", "slurmd.log"]:
        path = directory / name
        text += f"--- {name}\n{path.read_text()[-3000:] if path.exists() else '(none)'}\n"
    return text


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if os.environ.get("CELLSCAPE_SKIP_SLURM") == "1":
        pytest.skip("CELLSCAPE_SKIP_SLURM=1")
    if os.geteuid() != 0:
        pytest.fail("the Slurm test starts munged, slurmctld and slurmd and needs root "
                    "(or set CELLSCAPE_SKIP_SLURM=1)")
    root = tmp_path_factory.mktemp("slurm")
    root.chmod(0o755)
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    host = socket.gethostname().split(".")[0]
    socket_path = root / "munge.socket"
    (root / "state").mkdir()
    (root / "spool").mkdir()
    conf = root / "slurm.conf"
    conf.write_text(f"""ClusterName=cellscape-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket_path}
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName={host} CPUs={os.cpu_count()} State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    started = []
    try:
        for command in (["munged", "--force", f"--socket={socket_path}", f"--pid-file={root}/munged.pid",
                         f"--log-file={root}/munged.log", f"--seed-file={root}/munge.seed", f"--key-file={key}"],
                        ["slurmctld", "-f", str(conf)], ["slurmd", "-f", str(conf)]):
            result = subprocess.run(command, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                pytest.fail(f"{command[0]} did not start: {result.stderr}\n{logs(root)}")
            name = command[0]
            for _ in range(50):
                if (root / f"{name}.pid").exists() and (root / f"{name}.pid").read_text().strip():
                    break
                time.sleep(0.1)
            started.append(root / f"{name}.pid")
        deadline = time.time() + 60
        while time.time() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout
            if state.strip() == "idle":
                break
            time.sleep(1)
        else:
            pytest.fail(f"the Slurm node did not become idle (sinfo: {state!r})\n{logs(root)}")
        yield env, root
    finally:
        for pid_file in reversed(started):  # only the daemons this test started
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass


def wait_for(jobs, env, root):
    deadline = time.time() + 900
    while time.time() < deadline:
        queue = subprocess.run(["squeue", "-h", "-j", ",".join(j for j in jobs if j)], env=env, capture_output=True,
                               text=True)
        if queue.returncode == 0 and not queue.stdout.strip():
            return
        time.sleep(2)
    pytest.fail(f"the Slurm jobs did not finish: {queue.stdout}\n{logs(root)}")


def test_a_tiny_study_through_slurm_has_the_summary_of_a_local_run(cellscape, slurm, tmp_path):
    env, root = slurm
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_STUDY + "[slurm]\nsurface_shards = 2\n")  # each surface in two shard tasks
    binary = os.environ["CELLSCAPE"]

    dry = cellscape("study", str(config), "--out", str(tmp_path / "dry"), "--slurm", "--dry-run", "--time", "1:00:00")
    assert "#SBATCH --array=0,1\n" in dry.stdout and "#SBATCH --time=1:00:00" in dry.stdout
    assert "#SBATCH --array=0,1,2,3\n" in dry.stdout and "--surface-shard" in dry.stdout
    assert "--dependency" not in dry.stdout and "--collect" in dry.stdout

    out = tmp_path / "slurm-run"
    submitted = subprocess.run([binary, "study", str(config), "--out", str(out), "--slurm", "--cpus-per-task", "1",
                                "--json"], env=env, capture_output=True, text=True)
    assert submitted.returncode == 0, submitted.stderr
    jobs = json.loads(submitted.stdout)
    assert jobs["replicates"] == [0, 1] and jobs["cells_job"] and jobs["surfaces_job"] and jobs["summary_job"]
    wait_for([jobs["cells_job"], jobs["surfaces_job"], jobs["summary_job"]], env, root)
    summary_log = out / "slurm" / "logs" / "summary.log"
    assert (out / "summary.h5").exists(), summary_log.read_text() if summary_log.exists() else logs(root)

    cellscape("study", str(config), "--out", str(tmp_path / "local"))
    through_slurm, local = datasets_of(out / "summary.h5"), datasets_of(tmp_path / "local" / "summary.h5")
    assert through_slurm.keys() == local.keys()
    for name in local:
        if name.endswith("_seconds"):  # each run's measured costs
            continue
        if local[name].dtype.kind == "f":
            np.testing.assert_array_equal(through_slurm[name], local[name], err_msg=name)
        else:
            assert list(through_slurm[name]) == list(local[name]), name
    assert (out / "figures" / "loss-contours.png").exists()  # the summary job drew the figures
    for surface in (tmp_path / "local").glob("*/surface-epoch-*.h5"):  # merged shards equal whole surfaces
        merged = out / surface.parent.name / surface.name
        with h5py.File(surface) as a, h5py.File(merged) as b:
            for name in ["test_loss", "test_acc", "gradient_variance", "completed"]:
                np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=f"{merged}: {name}")

    again = json.loads(subprocess.run([binary, "study", str(config), "--out", str(out), "--slurm", "--json"],
                                      env=env, capture_output=True, text=True, check=True).stdout)
    assert again["replicates"] == [] and not again["cells_job"] and again["summary_job"]  # nothing left to recompute
    wait_for([again["summary_job"]], env, root)


@pytest.mark.parametrize("flag, value", [("--partition", "gpu\ntouch {marker}"), ("--partition", "gpu;touch {marker}"),
                                         ("--time", "1:00:00\ntouch {marker}"), ("--time", "$(touch {marker})")])
def test_hostile_sbatch_values_are_refused_before_any_script_is_written(cellscape, tmp_path, flag, value):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_STUDY)
    marker = tmp_path / "injected"
    result = cellscape("study", str(config), "--out", str(tmp_path / "out"), "--slurm", "--dry-run", flag,
                       value.format(marker=marker), check=False)
    assert result.returncode != 0
    message = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(message) == 1 and message[0].startswith(f"cellscape: error: {flag} '") and \
        "cannot go into a Slurm script" in message[0], result.stderr
    assert not (tmp_path / "out" / "slurm").exists() and not marker.exists()


def test_a_study_name_and_a_figures_python_reach_the_scripts_only_as_inert_text(cellscape, tmp_path):
    """A name with shell characters becomes a plain job name; an interpreter path with `$(...)`
    stays one quoted word: running the summary script executes neither."""
    marker = tmp_path / "injected"
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_STUDY.replace('name = "tiny"', f'name = "tiny; touch {marker}"'))
    python = f"/nowhere/$(touch {marker})/python3"
    out = tmp_path / "out"
    cellscape("study", str(config), "--out", str(out), "--slurm", "--dry-run", "--figures-python", python)
    scripts = {p.name: p.read_text() for p in (out / "slurm").glob("*.sbatch")}
    assert "#SBATCH --job-name=cellscape-tiny--touch-" in scripts["cells.sbatch"]
    for text in scripts.values():
        assert all(not line.startswith("touch") for line in text.splitlines())
    # The summary job run by hand: its collect finds nothing finished, and the
    # interpreter cannot be found, so it takes the branch that names it.
    ran = subprocess.run(["bash", str(out / "slurm" / "summary.sbatch")], capture_output=True, text=True, timeout=300)
    assert "no figures:" in ran.stdout and f"/nowhere/$(touch {marker})/python3" in ran.stdout, ran.stdout + ran.stderr
    assert not marker.exists()


@pytest.mark.parametrize("name", ["", "two\nlines"])
def test_an_empty_or_multiline_study_name_is_refused_naming_the_key(cellscape, tmp_path, name):
    config = tmp_path / "named.toml"
    config.write_text(TINY_STUDY.replace('name = "tiny"', f"name = {json.dumps(name)}"))
    result = cellscape("study", str(config), "--out", str(tmp_path / "out"), "--slurm", "--dry-run", check=False)
    assert result.returncode != 0 and "name: must be a non-empty name without control characters" in result.stderr
