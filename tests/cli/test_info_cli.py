"""`cellscape info` against the PyTorch in the project's venv: the binary must
run on the LibTorch of that PyTorch, with its CUDA support linked in."""
import json
import os
import subprocess

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


def test_the_program_computes_float32_as_float32_on_cuda_unless_told_tf32(info):
    # LibTorch's own default lets cuDNN's float32 convolutions use
    # TensorFloat-32; the program sets IEEE float32 before any command runs.
    assert torch.backends.cudnn.conv.fp32_precision == "tf32"  # the default it overrides
    assert info["cuda_float32"] == "ieee"


def test_gpus_reported_are_the_ones_pytorch_sees(info):
    assert info["cuda_devices"] == torch.cuda.device_count()
    assert info["cuda_available"] == torch.cuda.is_available()


def test_the_program_runs_on_the_malloc_the_build_linked(info):
    # CTest passes the build's CELLSCAPE_TCMALLOC (ON by default): a program
    # that lost tcmalloc at link time (10-15% slower analyses) fails here.
    expected = os.environ.get("CELLSCAPE_EXPECT_TCMALLOC", "ON").upper() in ("ON", "1", "TRUE", "YES")
    assert info["allocator"] == ("tcmalloc" if expected else "glibc"), info


JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"  # Debian's libjemalloc2 (scripts/install-deps.sh)


def test_a_malloc_it_cannot_measure_is_named_other(cellscape):
    # Under a malloc that is neither glibc's nor tcmalloc, glibc's mallinfo2
    # would describe an unused heap and every kept HVP graph would look free:
    # the program must see that it cannot measure, and say so.
    assert os.path.exists(JEMALLOC), "install libjemalloc2 (scripts/install-deps.sh installs it)"
    env = {**os.environ, "LD_PRELOAD": JEMALLOC}
    result = subprocess.run([os.environ["CELLSCAPE"], "info"], capture_output=True, text=True, env=env, check=True)
    # LD_PRELOAD puts jemalloc's malloc first even in a program linked with
    # tcmalloc, whose counters then see nothing.
    assert json.loads(result.stdout)["allocator"] == "other"


def test_hessian_work_under_a_malloc_it_cannot_measure_keeps_no_graphs_and_agrees(cellscape, tiny_run, tmp_path):
    # No graph is kept (none can be measured against --hvp-memory), so every
    # product recomputes its batch: the same float32 operations in the same
    # order, so the eigenvalues agree to float32 rounding (1e-5 relative).
    checkpoint = str(tiny_run / "epoch-0002.h5")
    common = ["hessian", "--checkpoint", checkpoint, "--samples", "64", "--batch-size", "32", "--threads", "1",
              "--top-k", "2", "--json"]
    native = json.loads(cellscape(*common, "--out", str(tmp_path / "native.h5")).stdout)
    env = {**os.environ, "LD_PRELOAD": JEMALLOC}
    foreign = subprocess.run([os.environ["CELLSCAPE"], *common, "--out", str(tmp_path / "foreign.h5")],
                             capture_output=True, text=True, env=env, timeout=120)
    assert foreign.returncode == 0, foreign.stderr
    foreign = json.loads(foreign.stdout)
    for a, b in zip(native["eigenvalues"], foreign["eigenvalues"]):
        assert abs(a - b) <= 1e-5 * abs(a), (native["eigenvalues"], foreign["eigenvalues"])


def test_the_programs_std_filesystem_calls_bind_to_libstdcxx_not_to_libtorchs_copies():
    # PyPI's libtorch.so and libtorch_cpu.so export their own copies of
    # std::filesystem (remove_all among them, which jumps to address 0). The
    # build names libstdc++.so.6 first among the program's libraries
    # (libanalysis/cmake/torch.cmake) so that the dynamic linker binds the
    # program's calls to libstdc++. LD_BIND_NOW binds every call the program
    # makes at start-up, and LD_DEBUG lists where each went.
    binary = os.path.realpath(os.environ["CELLSCAPE"])
    env = {**os.environ, "LD_BIND_NOW": "1", "LD_DEBUG": "bindings"}
    result = subprocess.run([binary, "info"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    targets = {}
    for line in result.stderr.splitlines():
        if f"binding file {binary} " in line and "`_ZNSt10filesystem" in line:
            library = line.split(" to ", 1)[1].split(" [", 1)[0]
            symbol = line.split("`", 1)[1].split("'", 1)[0]
            targets[symbol] = os.path.basename(library)
    assert len(targets) >= 5, "the program's std::filesystem calls were not listed by LD_DEBUG"
    elsewhere = {symbol: library for symbol, library in targets.items() if library != "libstdc++.so.6"}
    assert not elsewhere, elsewhere
