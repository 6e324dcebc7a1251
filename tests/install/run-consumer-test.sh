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
# The internals (each folder's detail/) are not installed, and no installed header includes one.
if find "$work/prefix/include/cellscape" -name detail | grep .; then
  echo "the library's internals (a detail/ folder) were installed" >&2; exit 1
fi
if grep -rEn 'cellscape/(\w+/)?detail/' "$work/prefix/include/cellscape"; then
  echo "installed headers include the library's internals" >&2; exit 1
fi
# The installed headers include each other as <cellscape/...> only.
if grep -rEn '#include "(analysis|cells|data|io|nn|study|train|util)/' "$work/prefix/include/cellscape"; then
  echo "installed headers include generic paths" >&2; exit 1
fi

# Runs a command with its output in LOG, printed only when it fails.
logged() {
  local log=$1
  shift
  "$@" > "$log" 2>&1 || { cat "$log"; exit 1; }
}

torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
logged "$work/configure.log" cmake -S "$source_dir/tests/install/consumer" -B "$work/consumer" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix;$torch_prefix" -DPython_EXECUTABLE="$python"
logged "$work/build.log" cmake --build "$work/consumer"
"$work/consumer/top_eigenvalue"
"$work/consumer/uses_fmt"
"$work/consumer/old_names"
# Each old name used there gets its sentence from the compiler.
for sentence in "EigenOptions::krylov_dimension is now ncv" "EigenOptions::tolerance is now tol"; do
  grep -qF "$sentence" "$work/build.log" || { echo "no deprecation warning '$sentence' in the consumer's build" >&2; exit 1; }
done

# The command line builds against the installed package: tools/ compiled and
# linked with nothing of the source tree's library on the search path (a
# tools/ include of a header that is not installed, such as a detail/ one,
# fails here), and the program it makes runs.
logged "$work/tools-configure.log" cmake -S "$source_dir/tests/install/tools_consumer" -B "$work/tools_consumer" \
  -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix;$torch_prefix" -DPython_EXECUTABLE="$python" \
  -DCELLSCAPE_TOOLS_DIR="$source_dir/tools" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
logged "$work/tools-build.log" cmake --build "$work/tools_consumer"
if grep -F "$source_dir/libanalysis" "$work/tools_consumer/compile_commands.json"; then
  echo "the command line built against the source tree's library headers (above)" >&2; exit 1
fi
"$work/tools_consumer/cellscape_from_package" info > /dev/null

# The cells component alone, with nothing but cellscape's prefix to search:
# no LibTorch, HDF5 or CUDA is looked for.
logged "$work/cells-configure.log" cmake -S "$source_dir/tests/install/cells_consumer" -B "$work/cells_consumer" \
  -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix"
if grep -nE 'Torch|CUDA|HDF5' "$work/cells-configure.log"; then
  echo "configuring the cells component looked for LibTorch, CUDA or HDF5" >&2; exit 1
fi
logged "$work/cells-build.log" cmake --build "$work/cells_consumer"
"$work/cells_consumer/zoo_metrics"
# cellscape inside a consumer's own tree (add_subdirectory), configured with
# no build type: it keeps the consumer's (none), registers no tests of its
# own, and gives the package's target names. The cells consumer is built
# and run; the analysis consumers are compiled only (linking them would build
# LibTorch's half of the library again, some 30 minutes here), and the one
# that calls fmt must refer to the fmt it links, not LibTorch's bundled one.
logged "$work/subdirectory-configure.log" cmake -S "$source_dir/tests/install/subdirectory_consumer" \
  -B "$work/subdirectory" -G Ninja -DCELLSCAPE_SOURCE_DIR="$source_dir" -DCELLSCAPE_PYTHON="$python"
if ! grep -qx 'CMAKE_BUILD_TYPE:STRING=' "$work/subdirectory/CMakeCache.txt"; then
  echo "add_subdirectory(cellscape) changed the consumer's build type:" >&2
  grep '^CMAKE_BUILD_TYPE' "$work/subdirectory/CMakeCache.txt" >&2; exit 1
fi
if [ -e "$work/subdirectory/cellscape/tests" ]; then
  echo "add_subdirectory(cellscape) registered cellscape's own tests in the consumer's build" >&2; exit 1
fi
logged "$work/subdirectory-build.log" cmake --build "$work/subdirectory" --target zoo_metrics
"$work/subdirectory/zoo_metrics"
objects=$(ninja -C "$work/subdirectory" -t targets all | grep -oE '^CMakeFiles/(top_eigenvalue|uses_fmt)\.dir/[^:]*\.o')
[ "$(echo "$objects" | wc -l)" -eq 2 ] || { echo "expected two consumer objects, found: $objects" >&2; exit 1; }
# shellcheck disable=SC2086
logged "$work/subdirectory-compile.log" ninja -C "$work/subdirectory" $objects
uses_fmt_object="$work/subdirectory/$(echo "$objects" | grep uses_fmt)"
# (Each reader takes its whole input: one that stops early, as awk's exit or
# head would, can end the writer by SIGPIPE, which pipefail and set -e turn
# into a silent failure when the machine is loaded.)
system_fmt=$(ldconfig -p | awk '/libfmt\.so / && !found {print $NF; found = 1}')
linked_vformat=$(nm -DC "$system_fmt" | grep -o 'fmt::v[0-9]*::vformat' | sort -u | awk 'NR == 1')
# (nm's whole output first: grep -q would stop reading it, and pipefail fail the test.)
uses_fmt_symbols=$(nm -C "$uses_fmt_object")
if ! grep -qF "$linked_vformat" <<< "$uses_fmt_symbols"; then
  echo "the consumer that calls fmt compiled against another fmt than the one it links ($linked_vformat, $system_fmt):" >&2
  grep -o 'fmt::v[0-9]*::vformat' <<< "$uses_fmt_symbols" | sort -u >&2; exit 1
fi

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
echo "installed package: consumers (all, cells only, the command line, add_subdirectory) built and ran; no source paths in the binaries or the package"
