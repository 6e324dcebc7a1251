"""Red team, class "file systems": a read-only file system, a full one, a
file-size limit and a standard output that cannot be written each end in one
sentence naming the path and the cause, with exit status 1 (never 70, never a
signal), and nothing finished lost. Read-only and full file systems are small
tmpfs mounts (the tests need root and mount(8), as on the CI machine, and say
so when skipped); a file-size limit is `ulimit -f` (RLIMIT_FSIZE) without
ignoring SIGXFSZ, as a shell sets it."""
import resource
import subprocess

import pytest

from hostile import BINARY, SMALL, TINY_STUDY_ANALYSES, TINY_STUDY_TRAINING, refused, run, snapshot

STUDY = 'cells = ["DARTS_V2"]\nthreads = 1\n' + TINY_STUDY_TRAINING + TINY_STUDY_ANALYSES


def tmpfs(path, options):
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    return path


@pytest.fixture
def read_only(tmp_path):
    path = tmpfs(tmp_path / "read-only", "ro,size=1m")
    yield path
    subprocess.run(["umount", str(path)], check=True)


@pytest.fixture
def full(tmp_path):
    path = tmpfs(tmp_path / "full", "size=128k")
    yield path
    subprocess.run(["umount", str(path)], check=True)


def writers(tiny_run, directory, tmp_path):
    checkpoint = tiny_run / "epoch-0002.h5"
    config = tmp_path / "study.toml"
    config.write_text(STUDY)
    shard = tmp_path / "shard.h5"
    if not shard.exists():
        assert run("surface", "--checkpoint", checkpoint, "--x", "-1:1:3", *SMALL, "--shard", "0/1",
                   "--out", shard).returncode == 0
    return {
        "train": ["train", "--cell", "DARTS_V2", "--epochs", "1", "--train-size", "64", "--test-size", "32",
                  "--init-channels", "4", "--layers", "3", "--out", directory / "run"],
        "study": ["study", config, "--out", directory / "study"],
        "slurm-dry-run": ["study", config, "--out", directory / "study", "--slurm", "--dry-run"],
        "hessian": ["hessian", "--checkpoint", checkpoint, "--top-k", "1", "--tol", "0.1", *SMALL,
                    "--out", directory / "h.h5"],
        "gradvar": ["gradvar", "--checkpoint", checkpoint, "--batches", "2", "--batch-size", "16",
                    "--out", directory / "g.h5"],
        "surface": ["surface", "--checkpoint", checkpoint, "--x", "-1:1:3", *SMALL, "--out", directory / "s.h5"],
        "proxies": ["proxies", "--checkpoint", checkpoint, "--samples", "16", "--out", directory / "p.h5"],
        "merge": ["merge", directory / "m.h5", shard],
        "render": ["cell", "DARTS_V2", "--render", directory / "darts.svg"],
    }


WRITERS = ["train", "study", "slurm-dry-run", "hessian", "gradvar", "surface", "proxies", "merge", "render"]


@pytest.mark.parametrize("command", WRITERS)
def test_a_read_only_file_system_is_one_sentence_before_any_work(tiny_run, read_only, tmp_path, command):
    result = run(*writers(tiny_run, read_only, tmp_path)[command])
    refused(result, "read-only", str(read_only))
    assert "top eigenvalues" not in result.stderr and "epoch 1/1" not in result.stderr  # before any work


def test_training_that_cannot_fit_its_checkpoints_is_refused_before_it_starts(full):
    result = run("train", "--cell", "DARTS_V2", "--epochs", "1", "--train-size", "64", "--test-size", "32",
                 "--init-channels", "8", "--out", full / "run")
    refused(result, "--out:", "checkpoint files take about", "MiB free")
    assert "epoch 1/1" not in result.stderr


def test_training_that_fits_its_disk_is_not_refused(tmp_path):
    # The disk check once asked 12.8 MiB for a run whose checkpoints take ~0.3 MiB (issue 41): a 3 MiB file
    # system must take a C=4, 3-cell run with an epoch-0 checkpoint, and the estimate stays within 2x
    # (tests/train/test_training.cpp checks each file against it).
    disk = tmpfs(tmp_path / "small", "size=3m")
    try:
        result = run("train", "--cell", "DARTS_V2", "--epochs", "2", "--train-size", "64", "--test-size", "32",
                     "--batch-size", "32", "--init-channels", "4", "--layers", "3", "--threads", "1",
                     "--checkpoint-epochs", "0,1", "--out", disk / "run")
        assert result.returncode == 0, result.stderr
        used = sum(p.stat().st_size for p in (disk / "run").iterdir())
        assert used < 1 << 20, used
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_while_writing_is_one_sentence_and_leaves_no_partial_file(tiny_run, full, tmp_path):
    # The 128 KiB file system fills with a ballast file until a Hessian file with eigenvectors cannot fit.
    checkpoint = tiny_run / "epoch-0002.h5"
    with open(full / "ballast", "wb") as ballast:
        ballast.write(b"\0" * (128 * 1024 - 8192))
    before = snapshot(full)
    result = run("hessian", "--checkpoint", checkpoint, "--top-k", "2", "--tol", "0.1", "--eigenvectors", *SMALL,
                 "--out", full / "h.h5")
    message = refused(result, str(full / "h.h5"))
    assert "full" in message or "free" in message, message
    after = snapshot(full)
    assert {name: entry for name, entry in after.items() if not name.endswith(".lock")} == before


def size_limited(size):
    """The child's writes beyond `size` bytes fail as a shell's `ulimit -f` makes them: SIGXFSZ at its default."""
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return limit


@pytest.mark.parametrize("command", ["train", "surface", "hessian", "merge"])
def test_a_file_size_limit_is_a_sentence_not_a_signal(tiny_run, tmp_path, command):
    out = tmp_path / "out"
    out.mkdir()
    args = writers(tiny_run, out, tmp_path)[command]
    if command == "hessian":
        args += ["--eigenvectors"]
    result = subprocess.run([BINARY, *map(str, args)], capture_output=True, text=True, timeout=300,
                            preexec_fn=size_limited(4096))
    refused(result, "file-size limit of 4 KiB (ulimit -f)")
    # A surface keeps its computed points in OUT.partial for the rerun; nothing else stays half-written.
    leftovers = [p.name for p in out.rglob("*") if p.name.endswith(".partial") and command != "surface"]
    assert not leftovers, leftovers


def test_output_that_cannot_reach_its_file_is_a_failure():
    with open("/dev/full", "w") as unwritable:
        result = subprocess.run([BINARY, "sample", "--count", "3", "--json"], stdout=unwritable,
                                stderr=subprocess.PIPE, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == "cellscape: error: cannot write the standard output: the disk is full"
