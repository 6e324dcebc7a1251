#!/usr/bin/env bash
# One LibTorch per build (libanalysis/cmake/cellscape-torch-pin.cmake, docs/gpu.md).
# Another LibTorch's libraries (decoys compiled here) and a Caffe2 package lie
# where CMake looks first, in a prefix of CMAKE_SYSTEM_PREFIX_PATH, as
# Debian's python3-torch puts its libtorch.so, libc10.so, ... in
# /usr/lib/x86_64-linux-gnu. The LibTorch lookup alone (tests/install/torch_pin,
# configured, nothing built) must then take every library, and Caffe2's
# package, from the one LibTorch found:
#   1. the project's PyTorch (PYTHON), by default;
#   2. a LibTorch named by Torch_DIR (here links to that PyTorch's files under
#      another prefix, so that "which one" shows in the paths);
#   3. the project's PyTorch again, through the package config a consumer's
#      find_package(cellscape) runs (BUILD_DIR's, with stand-in targets);
# and refuse, at configure time and with its sentence, a library forced from
# elsewhere (-DTORCH_LIBRARY=the decoy), in the build (4) and in a consumer (5).
# Usage: run-torch-pin-test.sh SOURCE_DIR BUILD_DIR PYTHON C_COMPILER CXX_COMPILER
set -euo pipefail
usage="usage: run-torch-pin-test.sh SOURCE_DIR BUILD_DIR PYTHON C_COMPILER CXX_COMPILER"
source_dir=${1:?$usage}
build_dir=${2:?$usage}
python=${3:?$usage}
c_compiler=${4:?$usage}
cxx_compiler=${5:?$usage}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "$*" >&2
  exit 1
}

torch_dir=$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
torch_prefix_path=$("$python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
venv_lib=$torch_dir/lib

# The other LibTorch, where the system's libraries are: trivial shared
# libraries of LibTorch's names, and a Caffe2 package that loads the real one
# from another directory (so the configuration goes on, and Caffe2_DIR tells).
system=$work/system
mkdir -p "$system/lib/cmake/Caffe2"
for name in torch c10 c10_cuda torch_cpu torch_cuda kineto; do
  echo "int cellscape_decoy_$name;" | "$c_compiler" -shared -fPIC -x c - -o "$system/lib/lib$name.so"
done
echo "include(\"$torch_dir/share/cmake/Caffe2/Caffe2Config.cmake\")" > "$system/lib/cmake/Caffe2/Caffe2Config.cmake"

# A second LibTorch for Torch_DIR: another prefix whose lib/ links to the files.
other=$work/other
mkdir -p "$other/lib"
ln -s "$torch_dir/include" "$other/include"
ln -s "$torch_dir/share" "$other/share"
for library in "$venv_lib"/*.so; do
  ln -s "$library" "$other/lib/"
done

# The installed package, as far as its LibTorch lookup goes: BUILD_DIR's
# configured cellscape-config.cmake, the pin, and stand-ins for the targets.
package=$work/package/lib/cmake/cellscape
mkdir -p "$package"
[ -f "$build_dir/libanalysis/cellscape-config.cmake" ] || fail "no $build_dir/libanalysis/cellscape-config.cmake"
cp "$build_dir/libanalysis/cellscape-config.cmake" "$source_dir/libanalysis/cmake/cellscape-torch-pin.cmake" "$package/"
echo "add_library(cellscape::cells INTERFACE IMPORTED)" > "$package/cellscape-cells-targets.cmake"
echo "add_library(cellscape::analysis INTERFACE IMPORTED)" > "$package/cellscape-analysis-targets.cmake"

# Configures tests/install/torch_pin into BUILD (output in BUILD.log) with the
# decoys on the system's path; further arguments go to cmake.
configure() {
  local build=$1
  shift
  cmake -S "$source_dir/tests/install/torch_pin" -B "$build" -G Ninja -DCMAKE_C_COMPILER="$c_compiler" \
    -DCMAKE_CXX_COMPILER="$cxx_compiler" -DCELLSCAPE_SOURCE_DIR="$source_dir" -DCELLSCAPE_PYTHON="$python" \
    -DPython_EXECUTABLE="$python" -DCMAKE_SYSTEM_PREFIX_PATH="$system" "$@" > "$build.log" 2>&1
}

# Every LibTorch library BUILD's lookup found lies in LIBRARY_DIR (the files
# of LibTorch's names among the variables, TORCH_LIBRARIES and the imported
# targets torch links), and Caffe2's package is CAFFE2_DIR.
check_pinned() {
  local build=$1 library_dir=$2 caffe2_dir=$3 what=$4
  local found=$build/torch-pin.txt
  [ -f "$found" ] || { cat "$build.log"; fail "$what: the configuration wrote no $found"; }
  value() { awk -v key="$1" 'index($0, key "=") == 1 {print substr($0, length(key) + 2)}' "$found"; }
  local expected
  for pair in TORCH_LIBRARY=torch c10_LIBRARY=c10 C10_CUDA_LIBRARY=c10_cuda kineto_LIBRARY=kineto; do
    expected=""
    [ -e "$library_dir/lib${pair#*=}.so" ] && expected=$library_dir/lib${pair#*=}.so
    [ "$(value "${pair%=*}")" = "$expected" ] ||
      fail "$what: ${pair%=*} is '$(value "${pair%=*}")', not '$expected'"
  done
  [ "$(value Caffe2_DIR)" = "$caffe2_dir" ] || fail "$what: Caffe2_DIR is '$(value Caffe2_DIR)', not '$caffe2_dir'"
  for target in torch torch_cpu c10; do
    grep -q "^LOCATION=$target=/" "$found" || fail "$what: no file found for the imported target $target: $(cat "$found")"
  done
  local file
  while read -r file; do
    case "$(basename "$file")" in
      libtorch*|libc10*|libcaffe2*|libkineto*|libshm*)
        [ "$(dirname "$file")" = "$library_dir" ] || fail "$what: LibTorch's $file is not in $library_dir" ;;
    esac
  done < <(sed -nE 's/^(TORCH_LIBRARIES|LOCATION=[^=]*)=(\/.*)$/\2/p' "$found")
  if grep -v '^CMAKE_SYSTEM_PREFIX_PATH' "$build/CMakeCache.txt" | grep -F "$system" | grep -q .; then
    fail "$what: the configuration took the other LibTorch's files: $(grep -v '^CMAKE_SYSTEM_PREFIX_PATH' \
      "$build/CMakeCache.txt" | grep -F "$system")"
  fi
}

# The configuration of BUILD failed, and its output says SENTENCE (CMake
# wraps a message's lines: compared with runs of blanks made one space).
check_refused() {
  local build=$1 sentence=$2 what=$3
  local said
  said=$(tr -s ' \n' '  ' < "$build.log")
  grep -qF "$sentence" <<< "$said" || { cat "$build.log"; fail "$what: no sentence '$sentence'"; }
}

configure "$work/default" || { cat "$work/default.log"; fail "the default lookup failed to configure"; }
check_pinned "$work/default" "$venv_lib" "$torch_dir/share/cmake/Caffe2" "the default lookup"

configure "$work/torch-dir" -DTorch_DIR="$other/share/cmake/Torch" ||
  { cat "$work/torch-dir.log"; fail "the lookup with Torch_DIR failed to configure"; }
check_pinned "$work/torch-dir" "$other/lib" "$other/share/cmake/Caffe2" "the lookup with Torch_DIR"

# (TORCH_CUDA_ARCH_LIST spares Caffe2's GPU probe, as torch.cmake does.)
consumer=(-DTORCH_PIN_PACKAGE=ON -DCMAKE_PREFIX_PATH="$work/package;$torch_prefix_path" -DTORCH_CUDA_ARCH_LIST="8.0;9.0")
configure "$work/consumer" "${consumer[@]}" ||
  { cat "$work/consumer.log"; fail "find_package(cellscape) failed to configure"; }
check_pinned "$work/consumer" "$venv_lib" "$torch_dir/share/cmake/Caffe2" "find_package(cellscape)"

sentence="every LibTorch library must come from the LibTorch that find_package(Torch) found in $torch_dir, but TORCH_LIBRARY is $system/lib/libtorch.so: configure with -DTORCH_LIBRARY=$venv_lib/libtorch.so, or delete this build's CMakeCache.txt"
if configure "$work/forced" -DTORCH_LIBRARY="$system/lib/libtorch.so"; then
  fail "the build configured with the other LibTorch's TORCH_LIBRARY"
fi
check_refused "$work/forced" "cellscape: $sentence" "the forced TORCH_LIBRARY"

if configure "$work/forced-consumer" "${consumer[@]}" \
  -DTORCH_LIBRARY="$system/lib/libtorch.so"; then
  fail "find_package(cellscape) configured with the other LibTorch's TORCH_LIBRARY"
fi
check_refused "$work/forced-consumer" "$sentence" "the forced TORCH_LIBRARY in a consumer"
check_refused "$work/forced-consumer" 'package "cellscape" is considered to be NOT FOUND' \
  "the forced TORCH_LIBRARY in a consumer"

echo "LibTorch pinned: default, Torch_DIR and find_package(cellscape) take no other LibTorch's files; a forced one is refused"
