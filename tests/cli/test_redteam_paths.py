"""Red team, class "paths": an output is never one of the command's inputs,
--force replaces only regular files, one file has one writer, and names that
cannot be written are refused before any work (io/paths.hpp). Each case: exit
1, one sentence naming the setting, and every file as it was."""
import fcntl
import os
import shutil

import pytest

from hostile import SMALL, refused, run, snapshot


@pytest.fixture
def work(tiny_run, tmp_path):
    """A directory with a checkpoint, a hard link to it and a finished surface, as a user's work would be."""
    shutil.copy(tiny_run / "epoch-0002.h5", tmp_path / "model.h5")
    os.link(tmp_path / "model.h5", tmp_path / "linked.h5")
    result = run("surface", "--checkpoint", tmp_path / "model.h5", "--x", "-1:1:3", *SMALL, "--out",
                 tmp_path / "surface.h5")
    assert result.returncode == 0, result.stderr
    return tmp_path


# Commands that read FILE and are told to write their result onto it (by name, by another spelling, by a hard link).
SAME_FILE = [
    ["hessian", "--checkpoint", "model.h5", "--top-k", "1", "--tol", "0.1", *SMALL, "--out", "model.h5"],
    ["hessian", "--checkpoint", "model.h5", "--top-k", "1", "--tol", "0.1", *SMALL, "--out", "./model.h5"],
    ["hessian", "--checkpoint", "model.h5", "--top-k", "1", "--tol", "0.1", *SMALL, "--out", "linked.h5"],
    ["gradvar", "--checkpoint", "model.h5", "--batches", "2", "--batch-size", "16", "--threads", "1",
     "--out", "model.h5"],
    ["gradvar", "--checkpoint", "surface.h5", "--checkpoint", "model.h5", "--batches", "2", "--batch-size", "16",
     "--threads", "1", "--out", "linked.h5"],
    ["surface", "--checkpoint", "model.h5", "--x", "-1:1:3", *SMALL, "--out", "model.h5"],
    ["surface", "--checkpoint", "model.h5", "--x", "-1:1:3", "--directions-from", "surface.h5", *SMALL,
     "--out", "surface.h5"],
    ["proxies", "--checkpoint", "model.h5", "--samples", "16", "--proxies", "snip", "--threads", "1",
     "--out", "linked.h5"],
    ["merge", "surface.h5", "surface.h5"],
]


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
@pytest.mark.parametrize("args", SAME_FILE, ids=lambda a: "-".join(a[:1] + a[-1:]))
def test_an_output_is_never_one_of_the_commands_inputs(work, args, force):
    before = snapshot(work)
    result = run(*args, *(force if args[0] != "merge" else []), cwd=work)
    refused(result, "own input")
    assert snapshot(work) == before


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
@pytest.mark.parametrize("command", ["hessian", "gradvar", "proxies", "merge", "render"])
def test_force_replaces_only_regular_files(work, kind, command):
    target = work / f"special-{kind}.h5"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    else:
        try:
            os.mknod(target, 0o600 | 0o020000, os.makedev(1, 3))  # a character device like /dev/null
        except PermissionError:
            pytest.skip("making a device node needs root")
    args = {"hessian": ["hessian", "--checkpoint", work / "model.h5", "--top-k", "1", "--tol", "0.1", *SMALL,
                        "--out", target, "--force"],
            "gradvar": ["gradvar", "--checkpoint", work / "model.h5", "--batches", "2", "--batch-size", "16",
                        "--out", target, "--force"],
            "proxies": ["proxies", "--checkpoint", work / "model.h5", "--samples", "16", "--proxies", "snip",
                        "--out", target, "--force"],
            "merge": ["merge", target, work / "surface.h5"],
            "render": ["cell", "DARTS_V2", "--render", target, "--force"]}[command]
    before = snapshot(work)
    refused(run(*args, timeout=60), "--render:" if command == "render" else "out")
    assert snapshot(work) == before


def test_a_second_writer_of_one_file_is_refused_naming_the_holder(work):
    # The first writer's lock, held as a cellscape process holds it (flock on .NAME.lock beside the file).
    with open(work / ".result.h5.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write("4242")
        lock.flush()
        for args in (["hessian", "--checkpoint", work / "model.h5", "--top-k", "1", *SMALL],
                     ["gradvar", "--checkpoint", work / "model.h5", "--batches", "2", "--batch-size", "16"],
                     ["proxies", "--checkpoint", work / "model.h5", "--samples", "16", "--proxies", "snip"]):
            refused(run(*args, "--out", work / "result.h5"), "being written by another cellscape process (pid 4242)")
            assert not (work / "result.h5").exists()
    # Released: the same command runs.
    assert run("hessian", "--checkpoint", work / "model.h5", "--top-k", "1", "--tol", "0.1", *SMALL, "--out",
               work / "result.h5").returncode == 0


def test_names_that_cannot_be_written_are_refused_before_any_work(work):
    long_name = "x" * 300 + ".h5"
    before = snapshot(work)
    hessian = ["hessian", "--checkpoint", work / "model.h5", "--top-k", "1", *SMALL, "--out"]
    refused(run(*hessian, work / long_name), "--out:", "303 characters long")
    refused(run(*hessian, work / ("y" * 5000) / "h.h5"), "--out:")
    refused(run(*hessian, work / "model.h5" / "h.h5"), "--out:", "not a directory")
    train = ["train", "--cell", "DARTS_V2", "--epochs", "1", "--train-size", "64", "--test-size", "32"]
    refused(run(*train, "--out", work / "model.h5"), "--out:", "not a directory")
    refused(run(*train, "--out", work / "model.h5" / "run"), "--out:")
    refused(run(*train, "--out", work / ("z" * 300)), "--out:", "characters long")
    refused(run("cell", "DARTS_V2", "--render", work / ("r" * 300 + ".svg")), "--render:", "characters long")
    assert snapshot(work) == before
