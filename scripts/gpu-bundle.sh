#!/usr/bin/env bash
# Makes the folder that travels with the working tree to a GPU machine where
# nothing can be downloaded (docs/gpu.md): every header, CMake package and
# shared library cellscape's build needs besides LibTorch (which that
# machine's PyTorch brings), copied from this Debian 12 machine, plus a small
# Fashion-MNIST subset for the check's training and timings.
#
#   scripts/gpu-bundle.sh [--out DIR]      (default: gpu-bundle/, ignored by git)
#
# DIR is a CMake prefix (CMAKE_PREFIX_PATH=DIR, HDF5_ROOT=DIR) laid out as
# Debian lays out /usr, so the packages' own relocatable CMake files work:
#   include/                   fmt, Eigen (eigen3/), Spectra, HDF5, CLI11,
#                              nlohmann-json, toml11, Catch2, zlib headers
#   lib/x86_64-linux-gnu/      libfmt, libhdf5_serial(_cpp), libz, tcmalloc and every
#                              library they load, except glibc's and the C++
#                              runtime (the GPU machine's own, newer ones)
#   lib/libhdf5.so, libhdf5_cpp.so   links FindHDF5 looks for
#   lib/x86_64-linux-gnu/cmake, lib/cmake, share/   the packages' CMake files
#   data/fashion-mnist/        the first 6,400 training and 1,000 test images
#   MANIFEST                   what was copied, from which Debian package
# Needs the Debian packages of scripts/install-deps.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/gpu-bundle
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a directory}; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-bundle.sh: unknown argument '$1' (use --out DIR)" >&2; exit 2 ;;
  esac
  shift
done
python=${CELLSCAPE_PYTHON:-$root/.venv/bin/python}
arch=x86_64-linux-gnu

rm -rf "$out"
mkdir -p "$out/include" "$out/lib/$arch/cmake" "$out/lib/cmake" "$out/share/cmake" "$out/data"
manifest=$out/MANIFEST
echo "# made by scripts/gpu-bundle.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(. /etc/os-release; echo "$PRETTY_NAME")" > "$manifest"
# gpu-check.sh refuses a bundle that another version of this script made.
echo "# script sha256 $(sha256sum "$root/scripts/gpu-bundle.sh" | cut -d' ' -f1)" >> "$manifest"

copy() {  # copy SOURCE DESTINATION_DIR: files or directories, links kept as links
  cp -a "$1" "$2/"
  echo "$1 ($(dpkg -S "$1" 2>/dev/null | head -1 | cut -d: -f1 || echo '?'))" >> "$manifest"
}

# Headers.
for item in fmt Spectra CLI nlohmann toml toml.hpp catch2 zlib.h zconf.h; do copy "/usr/include/$item" "$out/include"; done
mkdir -p "$out/include/eigen3"
copy /usr/include/eigen3/Eigen "$out/include/eigen3"  # not unsupported/: cellscape does not use it
copy /usr/include/eigen3/signature_of_eigen3_matrix_library "$out/include/eigen3"
for header in /usr/include/hdf5/serial/*.h; do cp -a "$header" "$out/include/"; done
echo "/usr/include/hdf5/serial/*.h (libhdf5-dev), flattened into include/" >> "$manifest"

# CMake packages, at the places their relocatable files expect.
copy /usr/lib/$arch/cmake/fmt "$out/lib/$arch/cmake"
copy /usr/lib/cmake/Catch2 "$out/lib/cmake"
copy /usr/lib/libCatch2WithMain.a "$out/lib"  # Catch2's package checks that it exists
for package in CLI11 nlohmann_json toml11; do copy "/usr/share/cmake/$package" "$out/share/cmake"; done
mkdir -p "$out/share/eigen3"
copy /usr/share/eigen3/cmake "$out/share/eigen3"

# Shared libraries and everything they load, but glibc's and the C++ runtime.
libraries=(/usr/lib/$arch/libfmt.so.9 /usr/lib/$arch/libhdf5_serial.so.103 /usr/lib/$arch/libhdf5_serial_cpp.so.103
           /usr/lib/$arch/libz.so.1 /usr/lib/$arch/libtcmalloc_minimal.so.4)
mapfile -t closure < <(ldd "${libraries[@]}" | awk '/=> \//{print $3}' | sort -u)
for library in "${libraries[@]}" "${closure[@]}"; do
  name=$(basename "$library")
  case "$name" in
    libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|libresolv.so.*|ld-linux*|libstdc++.so.*|libgcc_s.so.*) continue ;;
  esac
  [ -e "$out/lib/$arch/$name" ] && continue
  cp -L "$library" "$out/lib/$arch/$name"
  echo "$library ($(dpkg -S "$(readlink -f "$library")" 2>/dev/null | head -1 | cut -d: -f1 || echo '?'))" >> "$manifest"
done
# The names a linker and the packages' CMake files look for.
ln -s libfmt.so.9 "$out/lib/$arch/libfmt.so"
fmt_file=$(basename "$(readlink -f /usr/lib/$arch/libfmt.so.9)")  # fmt-targets names the full version
[ "$fmt_file" = libfmt.so.9 ] || ln -s libfmt.so.9 "$out/lib/$arch/$fmt_file"
ln -s libz.so.1 "$out/lib/$arch/libz.so"
ln -s libtcmalloc_minimal.so.4 "$out/lib/$arch/libtcmalloc_minimal.so"
ln -s $arch/libhdf5_serial.so.103 "$out/lib/libhdf5.so"
ln -s $arch/libhdf5_serial_cpp.so.103 "$out/lib/libhdf5_cpp.so"

# A Fashion-MNIST subset in the dataset's own IDX format.
"$python" - "$out/data/fashion-mnist" <<'PY'
import gzip, pathlib, struct, sys
source, target = pathlib.Path("/usr/share/datasets/fashion-mnist"), pathlib.Path(sys.argv[1])
target.mkdir(parents=True)
for prefix, count in (("train", 6400), ("t10k", 1000)):
    for kind, item in (("images-idx3-ubyte", 28 * 28), ("labels-idx1-ubyte", 1)):
        data = gzip.open(source / f"{prefix}-{kind}.gz").read()
        header = 16 if kind.startswith("images") else 8
        head = bytearray(data[:header])
        head[4:8] = struct.pack(">I", count)  # the item count, big-endian, after the magic number
        with gzip.open(target / f"{prefix}-{kind}.gz", "wb") as f:
            f.write(bytes(head) + data[header:header + count * item])
PY
echo "/usr/share/datasets/fashion-mnist (dataset-fashion-mnist): first 6400 train, 1000 t10k images" >> "$manifest"

size=$(du -sb "$out" | cut -f1)
echo "gpu-bundle.sh: $out holds $(( size / 1024 / 1024 )) MiB ($(find "$out" -type f | wc -l) files)"
if [ "$size" -gt $(( 48 * 1024 * 1024 )) ]; then
  echo "gpu-bundle.sh: over 48 MiB: with the working tree it would pass the 64 MiB a device call carries" >&2
  exit 1
fi
