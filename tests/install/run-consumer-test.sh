#!/usr/bin/env bash
# Installs the built cellscape into a temporary prefix, builds the consumer
# project in tests/install/consumer against it (find_package(cellscape)), and
# runs it. Also checks that the binaries hold no absolute path of the source
# tree. Usage: run-consumer-test.sh BUILD_DIR SOURCE_DIR PYTHON
set -euo pipefail
build_dir=${1:?usage: run-consumer-test.sh BUILD_DIR SOURCE_DIR PYTHON}
source_dir=${2:?}
python=${3:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build_dir" --prefix "$work/prefix" > "$work/install.log"
test -f "$work/prefix/include/cellscape/cellscape.hpp"
test -f "$work/prefix/include/cellscape/util/version.hpp"
test -f "$work/prefix/lib/cmake/cellscape/cellscape-config.cmake"
# The package asks for no dependency its installed headers do not use, and
# keeps no path of this machine's checkout or virtual environment.
if grep -nE 'Spectra|toml11' "$work/prefix/lib/cmake/cellscape/"*.cmake; then
  echo "the installed package still names Spectra or toml11" >&2; exit 1
fi
if grep -nF -e "$source_dir" -e "$build_dir" "$work/prefix/lib/cmake/cellscape/"*.cmake; then
  echo "the installed package names a path of the build machine" >&2; exit 1
fi
# The installed headers include each other as <cellscape/...> only.
if grep -rEn '#include "(analysis|cells|data|io|nn|study|train|util)/' "$work/prefix/include/cellscape"; then
  echo "installed headers include generic paths" >&2; exit 1
fi

torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
cmake -S "$source_dir/tests/install/consumer" -B "$work/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix;$torch_prefix" -DPython_EXECUTABLE="$python" > "$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; exit 1; }
cmake --build "$work/consumer" > "$work/build.log" 2>&1 || { tail -50 "$work/build.log"; exit 1; }
"$work/consumer/top_eigenvalue"
"$work/consumer/uses_fmt"

# The cells component alone, with nothing but cellscape's prefix to search:
# no LibTorch, HDF5 or CUDA is looked for.
cmake -S "$source_dir/tests/install/cells_consumer" -B "$work/cells_consumer" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/cells-configure.log" 2>&1 ||
  { cat "$work/cells-configure.log"; exit 1; }
if grep -nE 'Torch|CUDA|HDF5' "$work/cells-configure.log"; then
  echo "configuring the cells component looked for LibTorch, CUDA or HDF5" >&2; exit 1
fi
cmake --build "$work/cells_consumer" > "$work/cells-build.log" 2>&1 || { tail -50 "$work/cells-build.log"; exit 1; }
"$work/cells_consumer/zoo_metrics"
# The installed command runs from there (it finds LibTorch's libraries).
"$work/prefix/bin/cellscape" info > /dev/null

# No absolute path of the checkout in what was built and installed, but
# where LibTorch lies (the venv, named in the command's library search path).
venv_libraries=$(dirname "$("$python" -c 'import torch; print(torch.__file__)')")/lib
for binary in "$work/prefix/bin/cellscape" "$work/prefix/lib/libcellscape_cells.a" \
              "$work/prefix/lib/libcellscape_analysis.a"; do
  if strings "$binary" | grep -F "$source_dir/" | grep -vF "$venv_libraries" | head -3 | grep -q .; then
    echo "$binary holds paths of the source tree:" >&2
    strings "$binary" | grep -F "$source_dir/" | grep -vF "$venv_libraries" | head -3 >&2
    exit 1
  fi
done
echo "installed package: consumers (all, cells only) built and ran; no source paths in the binaries or the package"
