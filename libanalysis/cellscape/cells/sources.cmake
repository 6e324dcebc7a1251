# The genotype parser and printer: shared by the library and the standalone
# libFuzzer build in tests/fuzz, which compiles them with clang.
set(CELLSCAPE_CELL_PARSER_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/genotype.cpp
  ${CMAKE_CURRENT_LIST_DIR}/genotype_json.cpp
  ${CMAKE_CURRENT_LIST_DIR}/genotype_text.cpp
  ${CMAKE_CURRENT_LIST_DIR}/operation.cpp)
