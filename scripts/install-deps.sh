#!/usr/bin/env bash
# Installs every Debian package cellscape needs to build, test, run its study
# and draw its figures. Idempotent; run as root on Debian 12.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  clang libclang-rt-14-dev            # libFuzzer target for the genotype parser
  # C++ libraries
  libtorch-dev libopenblas0-pthread libeigen3-dev libspectra-dev libhdf5-dev zlib1g-dev
  libfmt-dev catch2 libcli11-dev nlohmann-json3-dev libtoml11-dev
  libbenchmark-dev
  # diagrams, data
  graphviz dataset-fashion-mnist
  # plotting and notebooks (Debian's interpreter: /usr/bin/python3)
  python3 python3-h5py python3-matplotlib python3-numpy python3-pytest
  python3-torch                       # tests: TorchScript models and reference Hessians from PyTorch
  jupyter-nbconvert python3-ipykernel
  # cluster tests: a real single-node Slurm
  slurm-wlm munge
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: run as root (apt-get needs it), e.g. sudo $0" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps.sh: all ${#packages[@]} packages already installed"
  exit 0
fi
echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
