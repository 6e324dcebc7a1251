"""`cellscape info` against the PyTorch in the project's venv: the binary must
run on the LibTorch of that PyTorch, with its CUDA support linked in."""
import json
import os

import pytest
import torch


@pytest.fixture(scope="module")
def info(cellscape):
    return json.loads(cellscape("info").stdout)


def test_the_binary_runs_on_the_libtorch_of_the_venv_pytorch(info):
    # torch.__version__ is e.g. "2.11.0+cu130"; LibTorch's TORCH_VERSION has no local part.
    assert info["libtorch"] == torch.__version__.split("+")[0]


def test_cuda_support_is_compiled_in_when_the_build_expects_it(info):
    # CTest passes the build's CELLSCAPE_EXPECT_CUDA (ON by default): a CPU-only
    # LibTorch sneaking into the default build fails here.
    expected = os.environ.get("CELLSCAPE_EXPECT_CUDA", "ON").upper() in ("ON", "1", "TRUE", "YES")
    assert info["cuda_compiled"] == expected, info
    if expected:
        # The versions LibTorch was built for, as the same PyTorch reports them.
        assert info["cuda_version"] == torch.version.cuda
        cudnn = torch.backends.cudnn.version()
        assert info["cudnn_version"] == f"{cudnn // 10000}.{cudnn % 10000 // 100}.{cudnn % 100}"


def test_gpus_reported_are_the_ones_pytorch_sees(info):
    assert info["cuda_devices"] == torch.cuda.device_count()
    assert info["cuda_available"] == torch.cuda.is_available()


def test_the_program_runs_on_the_malloc_the_build_linked(info):
    # CTest passes the build's CELLSCAPE_TCMALLOC (ON by default): a program
    # that lost tcmalloc at link time (10-15% slower analyses) fails here.
    expected = os.environ.get("CELLSCAPE_EXPECT_TCMALLOC", "ON").upper() in ("ON", "1", "TRUE", "YES")
    assert info["allocator"] == ("tcmalloc" if expected else "glibc"), info
