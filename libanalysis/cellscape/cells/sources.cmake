# The genotype parsers and printer (single genotypes, and the lists of the
# zoo and of cell files): shared by the library and the standalone libFuzzer
# build in tests/fuzz, which compiles them with clang. zoo.cpp needs the
# generated zoo data (zoo_data.cpp.in).
set(CELLSCAPE_CELL_PARSER_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/genotype.cpp
  ${CMAKE_CURRENT_LIST_DIR}/genotype_json.cpp
  ${CMAKE_CURRENT_LIST_DIR}/genotype_text.cpp
  ${CMAKE_CURRENT_LIST_DIR}/operation.cpp
  ${CMAKE_CURRENT_LIST_DIR}/zoo.cpp)
