# Installing the library as a CMake package:
#   include/cellscape/...             the public headers, and cellscape/cellscape.hpp
#   lib/libcellscape_*.a
#   lib/cmake/cellscape/              cellscape-config.cmake (find_package),
#                                     the exported targets, and the LibTorch
#                                     pin it shares with cmake/torch.cmake
# A consumer writes find_package(cellscape REQUIRED) and links
# cellscape::cellscape (docs/library.md).
include(CMakePackageConfigHelpers)
set(cellscape_package_dir ${CMAKE_INSTALL_LIBDIR}/cmake/cellscape)

# Two export sets, one per component: `cells` (genotypes, no LibTorch, HDF5
# or CUDA at configure time) and `analysis` (everything else).
install(TARGETS cellscape_cells EXPORT cellscape-cells-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS cellscape_analysis cellscape_library EXPORT cellscape-analysis-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The public headers; each folder's detail/ (nn/detail/: the fast paths,
# analysis/detail/: the autograd helpers, data/detail/: the raw dataset
# readers, train/detail/: the seeded global generators) holds internals that
# no public header includes (tests/test_library_rules.py) and that are not
# installed. tools/ builds from the installed headers alone
# (tests/install/run-consumer-test.sh).
install(DIRECTORY ${library_dir} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp"
        PATTERN detail EXCLUDE)
install(FILES ${generated_dir}/cellscape/util/version.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cellscape/util)
install(EXPORT cellscape-cells-targets NAMESPACE cellscape:: DESTINATION ${cellscape_package_dir})
install(EXPORT cellscape-analysis-targets NAMESPACE cellscape:: DESTINATION ${cellscape_package_dir})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/cellscape-config.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/cellscape-config.cmake
                              INSTALL_DESTINATION ${cellscape_package_dir})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/cellscape-config-version.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/cellscape-config.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/cellscape-config-version.cmake
              ${CMAKE_CURRENT_LIST_DIR}/cellscape-torch-pin.cmake
        DESTINATION ${cellscape_package_dir})
