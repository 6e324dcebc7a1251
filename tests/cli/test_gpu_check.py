"""The parts of the GPU check that can fail on a machine without a GPU:
scripts/gpu-check.sh's argument handling, the comparison of two devices'
results (scripts/gpu_check_compare.py) on files that agree and on files made
to differ, and the bundle of scripts/gpu-bundle.sh building cellscape's
dependencies with the system's copies hidden."""
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

import h5py
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECK = ROOT / "scripts" / "gpu-check.sh"
COMPARE = ROOT / "scripts" / "gpu_check_compare.py"
CHECKPOINT = ROOT / "data" / "fixtures" / "checkpoint-libtorch-1.13" / "epoch-0001.h5"


def run_check(*args):
    return subprocess.run(["bash", str(CHECK), *args], capture_output=True, text=True, timeout=60)


# --- argument handling -------------------------------------------------------

def test_help_describes_every_option():
    result = run_check("--help")
    assert result.returncode == 0
    for option in ["--bundle", "--python", "--build-dir", "--out", "--jobs", "--no-build"]:
        assert option in result.stdout, option


@pytest.mark.parametrize("args, message", [
    (["--frobnicate"], "unknown argument '--frobnicate'"),
    (["--out"], "--out needs a value"),
    (["--jobs", "many"], "--jobs must be a positive number, not 'many'"),
    (["--bundle", "/nonexistent/bundle"], "no bundle at '/nonexistent/bundle': make one with scripts/gpu-bundle.sh"),
])
def test_bad_arguments_exit_2_with_one_sentence(args, message):
    result = run_check(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def manifest_of_this_bundle_script():
    digest = hashlib.sha256((ROOT / "scripts" / "gpu-bundle.sh").read_bytes()).hexdigest()
    return f"# made by scripts/gpu-bundle.sh\n# script sha256 {digest}\n"


def test_a_python_without_torch_is_refused(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "MANIFEST").write_text(manifest_of_this_bundle_script())
    result = run_check("--bundle", str(bundle), "--python", "/bin/false")
    assert result.returncode == 2
    assert "'/bin/false' cannot import torch" in result.stderr


@pytest.mark.parametrize("manifest", ["# made by scripts/gpu-bundle.sh, before it recorded its own hash\n",
                                      "# script sha256 " + "0" * 64 + "\n"])
def test_a_bundle_from_another_version_of_the_bundle_script_is_refused(tmp_path, manifest):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "MANIFEST").write_text(manifest)
    result = run_check("--bundle", str(bundle), "--python", sys.executable)
    assert result.returncode == 2
    assert "was made by another version of scripts/gpu-bundle.sh: make it again" in result.stderr


# --- comparing two devices' results -------------------------------------------

@pytest.fixture(scope="module")
def reference(cellscape, tmp_path_factory):
    """Real results of the three commands gpu-check.sh runs, on the CPU, smaller."""
    folder = tmp_path_factory.mktemp("reference")
    common = ["--checkpoint", str(CHECKPOINT), "--dtype", "float64", "--threads", "1"]
    hessian = cellscape("hessian", *common, "--samples", "16", "--batch-size", "16", "--top-k", "1", "--tol", "1e-8",
                        "--json")
    (folder / "hessian.json").write_text(hessian.stdout)
    cellscape("gradvar", *common, "--batches", "2", "--batch-size", "8", "--out", str(folder / "gradvar.h5"))
    cellscape("surface", *common, "--x", "-1:1:3", "--eval", "test", "--samples", "16",
              "--out", str(folder / "surface.h5"))
    return folder


def compare(reference, candidate, tmp_path):
    report = tmp_path / "report.json"
    result = subprocess.run([sys.executable, str(COMPARE), str(reference), str(candidate), "--names", "cpu,cuda",
                             "--report", str(report)], capture_output=True, text=True, timeout=60)
    return result, (json.loads(report.read_text()) if report.exists() else None)


def failed(report):
    return [c["quantity"] for c in report["checks"] if not c["ok"]]


def test_identical_results_agree(reference, tmp_path):
    candidate = tmp_path / "candidate"
    shutil.copytree(reference, candidate)
    result, report = compare(reference, candidate, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["ok"] and failed(report) == []
    # loss, accuracy, eigenvalue, variance, norm, 3 x 2 surface points, and one check per gradient tensor
    assert len(report["checks"]) == 11 + 68


def test_an_eigenvalue_off_by_1e_5_is_caught(reference, tmp_path):
    candidate = tmp_path / "candidate"
    shutil.copytree(reference, candidate)
    hessian = json.loads((candidate / "hessian.json").read_text())
    hessian["eigenvalues"][0] *= 1 + 1e-5  # beyond the 1e-6 tolerance
    (candidate / "hessian.json").write_text(json.dumps(hessian))
    result, report = compare(reference, candidate, tmp_path)
    assert result.returncode == 1
    assert failed(report) == ["top Hessian eigenvalue"]
    assert "FAIL top Hessian eigenvalue" in result.stdout


def test_one_surface_point_and_one_gradient_tensor_off_are_caught(reference, tmp_path):
    candidate = tmp_path / "candidate"
    shutil.copytree(reference, candidate)
    with h5py.File(candidate / "surface.h5", "r+") as f:
        f["test_loss"][2] = f["test_loss"][2] * (1 + 1e-7)
    with h5py.File(candidate / "gradvar.h5", "r+") as f:
        norms = f["tensor_gradient_norm"][()]
        norms[0, 5] += 1e-7 * f["gradient_norm"][0]
        f["tensor_gradient_norm"][...] = norms
    result, report = compare(reference, candidate, tmp_path)
    assert result.returncode == 1
    assert failed(report) == ["gradient norm of tensor 5", "surface test loss at x=1"]


def test_a_nan_on_one_device_only_is_a_difference(reference, tmp_path):
    candidate = tmp_path / "candidate"
    shutil.copytree(reference, candidate)
    hessian = json.loads((candidate / "hessian.json").read_text())
    hessian["loss"] = float("nan")
    (candidate / "hessian.json").write_text(json.dumps(hessian))
    result, report = compare(reference, candidate, tmp_path)
    assert result.returncode == 1 and failed(report) == ["loss"]


def test_a_missing_result_file_is_an_error_not_a_pass(reference, tmp_path):
    candidate = tmp_path / "candidate"
    shutil.copytree(reference, candidate)
    (candidate / "gradvar.h5").unlink()
    result, report = compare(reference, candidate, tmp_path)
    assert result.returncode == 2 and report is None
    assert "cannot compare" in result.stderr and "gradvar.h5" in result.stderr


# --- the carried bundle builds on its own ---------------------------------------

# What the Debian packages put where a build would find it; hidden while the
# bundle builds. (Runtime libraries stay: cmake itself loads some of them; the
# probe's libraries are checked with ldd instead.)
HIDDEN_DIRECTORIES = ["/usr/include/fmt", "/usr/include/eigen3", "/usr/include/Spectra", "/usr/include/hdf5",
                      "/usr/include/CLI", "/usr/include/nlohmann", "/usr/include/toml", "/usr/include/catch2",
                      "/usr/lib/x86_64-linux-gnu/cmake/fmt", "/usr/lib/x86_64-linux-gnu/hdf5", "/usr/lib/cmake/Catch2",
                      "/usr/share/cmake/CLI11", "/usr/share/cmake/nlohmann_json", "/usr/share/cmake/toml11",
                      "/usr/share/eigen3"]
HIDDEN_FILES = ["/usr/include/toml.hpp", "/usr/include/zlib.h", "/usr/include/zconf.h"]
SYSTEM_LIBRARIES = ("libc.so", "libm.so", "libdl.so", "libpthread.so", "librt.so", "libresolv.so", "ld-linux",
                    "libstdc++.so", "libgcc_s.so", "linux-vdso")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="hiding the system's packages needs root and unshare (CI has both)")
def test_the_bundle_alone_builds_and_runs_the_dependency_probe(tmp_path):
    bundle, build = tmp_path / "bundle", tmp_path / "build"
    made = subprocess.run(["bash", str(ROOT / "scripts" / "gpu-bundle.sh"), "--out", str(bundle)],
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    lib = bundle / "lib" / "x86_64-linux-gnu"
    hide = [f"mount -t tmpfs tmpfs {d}" for d in HIDDEN_DIRECTORIES if os.path.isdir(d)]
    hide += [f"mount --bind /dev/null {f}" for f in HIDDEN_FILES if os.path.exists(f)]
    script = "\n".join(["set -e", *hide,
                        f"cmake -S {ROOT} -B {build} -G Ninja -DCMAKE_PREFIX_PATH={bundle} -DHDF5_ROOT={bundle} "
                        f"-DCELLSCAPE_PYTHON={sys.executable} -DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,{lib}",
                        f"cmake --build {build} --target dependency_probe cellscape_cells cellscape_catch_main"])
    built = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", script],
                           capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, (built.stdout + built.stderr)[-4000:]

    # CMake found every package in the bundle.
    cache = dict(line.split("=", 1) for line in (build / "CMakeCache.txt").read_text().splitlines()
                 if "=" in line and not line.startswith(("#", "//")))
    found = {key.split(":")[0]: value for key, value in cache.items()}
    for key in ["fmt_DIR", "nlohmann_json_DIR", "CLI11_DIR", "toml11_DIR", "Eigen3_DIR", "Catch2_DIR",
                "Spectra_INCLUDE_DIR", "HDF5_C_INCLUDE_DIR", "HDF5_CXX_INCLUDE_DIR", "HDF5_hdf5_LIBRARY_RELEASE",
                "HDF5_hdf5_cpp_LIBRARY_RELEASE", "ZLIB_INCLUDE_DIR", "ZLIB_LIBRARY_RELEASE",
                "CELLSCAPE_TCMALLOC_LIBRARY"]:
        assert found.get(key, "").startswith(str(bundle)), f"{key} = {found.get(key)}"

    # The probe runs on the bundle's libraries and gets every answer right.
    env = {**os.environ, "LD_LIBRARY_PATH": str(lib)}
    probe = subprocess.run([str(build / "tests" / "dependency_probe")], capture_output=True, text=True, env=env)
    assert probe.returncode == 0, probe.stdout + probe.stderr
    assert probe.stdout.count("ok  ") == 7
    # Every library it loads comes from the bundle, but glibc's and the C++ runtime.
    ldd = subprocess.run(["ldd", str(build / "tests" / "dependency_probe")], capture_output=True, text=True,
                         env=env, check=True).stdout
    for line in ldd.splitlines():
        name = pathlib.Path(line.split()[0]).name
        if name.startswith(SYSTEM_LIBRARIES):
            continue
        assert str(lib) in line, f"{name} does not come from the bundle: {line.strip()}"
