# Finding LibTorch: by default the one inside the project's PyTorch
# (CELLSCAPE_PYTHON, the .venv that scripts/install-deps.sh makes), a CUDA
# build that also runs on machines without a GPU. A LibTorch named through
# CMAKE_PREFIX_PATH or Torch_DIR comes first (docs/gpu.md). All of LibTorch's
# libraries come from the package found, or the configuration stops.

if(NOT Torch_DIR AND EXISTS ${CELLSCAPE_PYTHON})
  execute_process(
    COMMAND ${CELLSCAPE_PYTHON} -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE cellscape_torch_prefix
    ERROR_VARIABLE cellscape_torch_error
    RESULT_VARIABLE cellscape_torch_status
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(cellscape_torch_status EQUAL 0)
    list(APPEND CMAKE_PREFIX_PATH ${cellscape_torch_prefix})
  else()
    message(STATUS "cellscape: ${CELLSCAPE_PYTHON} has no PyTorch (${cellscape_torch_error}); "
                   "looking for LibTorch on CMAKE_PREFIX_PATH only")
  endif()
endif()

# Only matters for CUDA sources (cellscape has none): it spares the
# configuration a GPU probe and a warning on machines without a GPU.
if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(TORCH_CUDA_ARCH_LIST "8.0;9.0")
endif()

# Every LibTorch library from the one package found (cellscape-torch-pin.cmake):
# TorchConfig's find_library calls would take another LibTorch's files in the
# system's directories (Debian's python3-torch) before the package's own.
include(${CMAKE_CURRENT_LIST_DIR}/cellscape-torch-pin.cmake)
cellscape_torch_pin()
find_package(Torch REQUIRED)
if(NOT Torch_DIR)
  message(FATAL_ERROR "LibTorch not found: run scripts/install-deps.sh (it makes .venv with PyTorch), "
                      "or point CMAKE_PREFIX_PATH at a LibTorch")
endif()
cellscape_torch_stray(cellscape_torch_stray)
if(cellscape_torch_stray)
  message(FATAL_ERROR "${cellscape_torch_stray}")
endif()

# Whether this LibTorch carries its CUDA libraries; `cellscape info` reports
# what the running binary actually loaded, and a test compares the two.
# (TorchConfig lists c10_cuda and the CUDA runtime's libraries in
# TORCH_CUDA_LIBRARIES only for a CUDA build.)
if(TORCH_CUDA_LIBRARIES)
  set(CELLSCAPE_TORCH_HAS_CUDA ON)
else()
  set(CELLSCAPE_TORCH_HAS_CUDA OFF)
endif()
option(CELLSCAPE_EXPECT_CUDA "Tests require LibTorch's CUDA support to be compiled in (off for a CPU-only LibTorch)"
       ON)
message(STATUS "cellscape: LibTorch ${Torch_VERSION} in ${Torch_DIR}, CUDA compiled in: ${CELLSCAPE_TORCH_HAS_CUDA}")

# PyTorch's wheels ship fmt's headers (a newer fmt, compiled into LibTorch
# with hidden symbols) in the same include directory as LibTorch's own, and
# that directory comes before /usr/include. cellscape links the system's
# libfmt, so its headers must be the ones compiled against: a directory that
# holds only a link to them goes first. (LibTorch's public headers that
# cellscape includes do not use fmt.)
get_target_property(cellscape_fmt_includes fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
set(cellscape_fmt_first ${CMAKE_BINARY_DIR}/fmt-first)
foreach(directory IN LISTS cellscape_fmt_includes)
  if(EXISTS ${directory}/fmt/format.h)
    file(MAKE_DIRECTORY ${cellscape_fmt_first})
    file(CREATE_LINK ${directory}/fmt ${cellscape_fmt_first}/fmt SYMBOLIC)
  endif()
endforeach()
if(NOT EXISTS ${cellscape_fmt_first}/fmt/format.h)
  message(FATAL_ERROR "cellscape: fmt's headers not found in ${cellscape_fmt_includes}")
endif()

# libtorch.so of PyPI's wheels exports its own copies of some libstdc++
# functions (std::filesystem among them, linked in statically from the
# newer libstdc++ it was built with). Listed before libstdc++ among a
# program's libraries, its copies win the symbol lookup and crash (seen:
# std::filesystem::remove_all jumping to address 0). Naming libstdc++ first
# makes the program bind to the system's libstdc++, as everything else does.
# The shared library is named by its file name: with the GPU machines' GCC
# 13.3 (/opt/gcc), a plain -lstdc++ here left no libstdc++.so.6 among the
# program's libraries, the programs' std::filesystem calls bound to
# libtorch.so's copies again, and the tests that remove a directory crashed
# there (docs/gpu.md). -l:libstdc++.so.6 can only be the shared library.
set(CELLSCAPE_STDCXX_FIRST "LINKER:--push-state,--no-as-needed,-l:libstdc++.so.6,--pop-state")
