"""Red team, class "special files": a FIFO, a device or a directory given
where cellscape reads a file is refused before it is opened (a FIFO would
block the read forever: the timeout turns a hang into a failure), with one
sentence naming the path."""
import os

import pytest

from hostile import SMALL, refused, run


@pytest.fixture(params=["fifo", "device", "directory"])
def special(request, tmp_path):
    path = tmp_path / f"special-{request.param}"
    if request.param == "fifo":
        os.mkfifo(path)
    elif request.param == "directory":
        path.mkdir()
    else:
        try:
            os.mknod(path, 0o600 | 0o020000, os.makedev(1, 5))  # a character device like /dev/zero: endless bytes
        except PermissionError:
            pytest.skip("making a device node needs root")
    return path


def commands(special, tiny_run, tmp_path):
    checkpoint = tiny_run / "epoch-0002.h5"
    return {
        "hessian": ["hessian", "--checkpoint", special, "--top-k", "1", *SMALL],
        "gradvar": ["gradvar", "--checkpoint", special, "--batches", "2", "--batch-size", "16"],
        "surface": ["surface", "--checkpoint", special, "--x", "-1:1:3", *SMALL, "--out", tmp_path / "s.h5"],
        "directions": ["surface", "--checkpoint", checkpoint, "--directions-from", special, "--x", "-1:1:3", *SMALL,
                       "--out", tmp_path / "s.h5"],
        "resume": ["train", "--resume", special, "--out", tmp_path / "run"],
        "data": ["train", "--cell", "DARTS_V2", "--dataset", f"h5:{special}", "--epochs", "1",
                 "--out", tmp_path / "run"],
        "study": ["study", special, "--out", tmp_path / "study"],
        "cell": ["cell", f"@{special}"],
        "merge": ["merge", tmp_path / "m.h5", special],
    }


@pytest.mark.parametrize("command", ["hessian", "gradvar", "surface", "directions", "resume", "data", "study",
                                     "cell", "merge"])
def test_special_files_are_refused_as_inputs_without_hanging(special, tiny_run, tmp_path, command):
    result = run(*commands(special, tiny_run, tmp_path)[command], timeout=60)
    message = refused(result, str(special))
    assert "not a regular file" in message or "is a directory" in message or "not a file" in message \
        or "does not exist or is not a regular file" in message, message
    assert not (tmp_path / "s.h5").exists() and not (tmp_path / "m.h5").exists()
