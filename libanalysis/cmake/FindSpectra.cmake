# FindSpectra: the header-only Spectra library (Lanczos and Arnoldi
# eigensolvers on Eigen), which ships no CMake package of its own in
# Debian's libspectra-dev.
#
# Looks for Spectra/SymEigsSolver.h on the usual include paths and
# CMAKE_PREFIX_PATH (or Spectra_ROOT), reads the version from
# Spectra/Util/Version.h, and defines
#   Spectra::Spectra   an INTERFACE target carrying the include directory and Eigen3::Eigen
#   Spectra_FOUND, Spectra_INCLUDE_DIR, Spectra_VERSION

find_path(Spectra_INCLUDE_DIR NAMES Spectra/SymEigsSolver.h DOC "Directory holding Spectra/SymEigsSolver.h")
mark_as_advanced(Spectra_INCLUDE_DIR)

if(Spectra_INCLUDE_DIR AND EXISTS "${Spectra_INCLUDE_DIR}/Spectra/Util/Version.h")
  file(STRINGS "${Spectra_INCLUDE_DIR}/Spectra/Util/Version.h" _spectra_version_lines
       REGEX "#define SPECTRA_(MAJOR|MINOR|PATCH)_VERSION")
  foreach(_part MAJOR MINOR PATCH)
    string(REGEX REPLACE ".*#define SPECTRA_${_part}_VERSION ([0-9]+).*" "\\1" _spectra_${_part}
                         "${_spectra_version_lines}")
  endforeach()
  set(Spectra_VERSION "${_spectra_MAJOR}.${_spectra_MINOR}.${_spectra_PATCH}")
  unset(_spectra_version_lines)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Spectra REQUIRED_VARS Spectra_INCLUDE_DIR VERSION_VAR Spectra_VERSION)

if(Spectra_FOUND AND NOT TARGET Spectra::Spectra)
  if(NOT TARGET Eigen3::Eigen)
    find_package(Eigen3 REQUIRED NO_MODULE)
  endif()
  add_library(Spectra::Spectra INTERFACE IMPORTED)
  set_target_properties(Spectra::Spectra PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${Spectra_INCLUDE_DIR}"
                                                    INTERFACE_LINK_LIBRARIES Eigen3::Eigen)
endif()
