#!/usr/bin/env bash
# Installs what cellscape needs to build, test, run its study and draw its
# figures, on Debian 12:
#   1. Debian packages (as root; skipped when all are installed): the
#      toolchain, HDF5, Eigen, Spectra, fmt, Catch2, CLI11, nlohmann-json,
#      toml11, Google Benchmark, tcmalloc, Graphviz, Slurm, Fashion-MNIST.
#   2. The project's Python, .venv (VENV_DIR overrides): Debian's python3
#      with PyTorch (its LibTorch, a CUDA build that also runs on CPUs, is
#      what cellscape links) and the plotting and test packages, pinned in
#      scripts/requirements.txt. Skipped when .venv already holds exactly
#      those requirements.
# Idempotent. Needs Debian's archive and PyPI, nothing else.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV_DIR:-$root/.venv}
requirements=$root/scripts/requirements.txt

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  clang libclang-rt-14-dev            # libFuzzer target for the genotype parser
  # C++ libraries (LibTorch comes from PyTorch in the venv)
  libeigen3-dev libspectra-dev libhdf5-dev zlib1g-dev
  libfmt-dev catch2 libcli11-dev nlohmann-json3-dev libtoml11-dev
  libbenchmark-dev
  libgoogle-perftools-dev             # tcmalloc, the programs' malloc (CMake option CELLSCAPE_TCMALLOC)
  libjemalloc2                        # a foreign malloc, for the test that the programs recognise one
  # diagrams, data
  graphviz dataset-fashion-mnist
  # the interpreter the venv is made from
  python3 python3-venv
  # cluster tests: a real single-node Slurm
  slurm-wlm munge
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps.sh: all ${#packages[@]} Debian packages already installed"
elif [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: missing Debian packages (${missing[*]}): run as root (apt-get needs it), e.g. sudo $0" >&2
  exit 1
else
  echo "install-deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The plotting package of this checkout, importable in the venv as
# `python -m cellscape_plots` (a path entry, so edits take effect at once).
link_plots() {
  local site
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$root/python_plots" > "$site/cellscape_plots.pth"
}

# The venv is current when it was made from these exact requirements.
stamp=$venv/.cellscape-requirements
if [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$stamp"; then
  echo "install-deps.sh: $venv already holds scripts/requirements.txt"
  link_plots
  exit 0
fi
echo "install-deps.sh: installing scripts/requirements.txt into $venv (PyTorch with CUDA: several GB)"
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements"
"$venv/bin/python" -c 'import torch, h5py, matplotlib, scipy; print("install-deps.sh: PyTorch", torch.__version__, "CUDA", torch.version.cuda)'
cp "$requirements" "$stamp"
link_plots
