# One LibTorch per build. TorchConfig.cmake looks for LibTorch's libraries
# with find_library(... PATHS <its prefix>/lib), which searches the system's
# directories before that hint: on a machine that also has another LibTorch
# there (Debian's python3-torch puts libtorch.so, libc10.so, ... into
# /usr/lib/x86_64-linux-gnu), TORCH_LIBRARY, c10_LIBRARY, ... would name
# that one's files next to the found package's targets, and a program
# installed with TORCH_LIBRARY's directory as its run path would not load
# (docs/gpu.md). Used by torch.cmake and, installed next to it, by
# cellscape-config.cmake:
#
#   cellscape_torch_pin()                 before find_package(Torch): finds the
#       package find_package will load and sets, where not set already, the
#       cache variables TorchConfig's find_library calls fill to the files in
#       that package's lib directory (or to "" for one it lacks, so that no
#       other file is taken), and Caffe2_DIR to the package's own Caffe2.
#   cellscape_torch_stray(OUT_VARIABLE)   after it: OUT_VARIABLE becomes a
#       sentence naming every LibTorch library (those variables, the files of
#       TORCH_LIBRARIES, the imported targets the torch target links) outside
#       the found package's lib directory, and how to fix it; empty if none.

# The variables TorchConfig.cmake (PyTorch 2.11) fills with find_library, and
# the library each names: shared builds look for c10, kineto, c10_cuda
# (C10_CUDA_LIBRARY), c10_xpu and torch_xpu, and torch (TORCH_LIBRARY);
# static builds for torch, torch_cpu, torch_cuda and c10_cuda too.
set(_cellscape_torch_pinned_variables
    TORCH_LIBRARY=torch C10_CUDA_LIBRARY=c10_cuda c10_LIBRARY=c10 kineto_LIBRARY=kineto c10_xpu_LIBRARY=c10_xpu
    torch_xpu_LIBRARY=torch_xpu torch_LIBRARY=torch torch_cpu_LIBRARY=torch_cpu torch_cuda_LIBRARY=torch_cuda
    c10_cuda_LIBRARY=c10_cuda)

# The prefix TorchConfig.cmake in TORCH_DIR takes as LibTorch's (it honours
# the environment's TORCH_INSTALL_PREFIX the same way).
function(_cellscape_torch_prefix torch_dir out_variable)
  if(DEFINED ENV{TORCH_INSTALL_PREFIX})
    set(prefix "$ENV{TORCH_INSTALL_PREFIX}")
  else()
    get_filename_component(prefix "${torch_dir}/../../.." ABSOLUTE)
  endif()
  set(${out_variable} "${prefix}" PARENT_SCOPE)
endfunction()

# The library `name` in `directory` alone (not on any search path), or "".
function(_cellscape_torch_library_in name directory out_variable)
  unset(found)  # find_library does not search when the variable is already set (here: from a caller's scope)
  find_library(found NAMES ${name} PATHS "${directory}" NO_DEFAULT_PATH NO_CACHE)
  if(NOT found)
    set(found "")
  endif()
  set(${out_variable} "${found}" PARENT_SCOPE)
endfunction()

function(cellscape_torch_pin)
  # The package find_package(Torch) will load: Torch_DIR if set, or else
  # found by find_package's own search (the same CMAKE_PREFIX_PATH, Torch_ROOT,
  # ... and order) with only the version file loaded, which sets Torch_DIR
  # and nothing else that lasts.
  if(NOT Torch_DIR)
    find_package(Torch CONFIG QUIET CONFIGS TorchConfigVersion.cmake)
  endif()
  if(NOT Torch_DIR OR NOT EXISTS "${Torch_DIR}/TorchConfig.cmake")
    return() # find_package(Torch) reports it; cellscape_torch_stray checks what it found
  endif()
  _cellscape_torch_prefix("${Torch_DIR}" prefix)
  set(pins "")
  foreach(pair IN LISTS _cellscape_torch_pinned_variables)
    string(REPLACE "=" ";" pair "${pair}")
    list(GET pair 0 variable)
    list(GET pair 1 name)
    _cellscape_torch_library_in(${name} "${prefix}/lib" file)
    list(APPEND pins "${variable}=${file}")
  endforeach()
  get_filename_component(caffe2_dir "${Torch_DIR}/../Caffe2" ABSOLUTE)
  if(EXISTS "${caffe2_dir}/Caffe2Config.cmake")
    list(APPEND pins "Caffe2_DIR=${caffe2_dir}")
  endif()
  # A value set here before (for this or another package) is replaced; one
  # set otherwise (-D, or found by an earlier configuration without the pin)
  # is kept, and cellscape_torch_stray refuses it if it is another LibTorch's.
  foreach(pin IN LISTS pins)
    string(FIND "${pin}" "=" split)
    string(SUBSTRING "${pin}" 0 ${split} variable)
    math(EXPR split "${split} + 1")
    string(SUBSTRING "${pin}" ${split} -1 value)
    if(NOT DEFINED CACHE{${variable}} OR "$CACHE{${variable}}" MATCHES "NOTFOUND$"
       OR (DEFINED CACHE{_cellscape_torch_pin_${variable}} AND "$CACHE{${variable}}" STREQUAL
                                                               "$CACHE{_cellscape_torch_pin_${variable}}"))
      if(variable STREQUAL "Caffe2_DIR")
        set(type PATH)
      else()
        set(type FILEPATH)
      endif()
      set(${variable} "${value}" CACHE ${type} "cellscape: pinned to the LibTorch in ${prefix}" FORCE)
      set(_cellscape_torch_pin_${variable} "${value}" CACHE INTERNAL "")
      mark_as_advanced(${variable})
    endif()
  endforeach()
endfunction()

# Whether FILE lies in DIRECTORY, as given or with links resolved.
function(_cellscape_torch_inside file directory out_variable)
  get_filename_component(parent "${file}" DIRECTORY)
  file(REAL_PATH "${parent}" real_parent)
  file(REAL_PATH "${directory}" real_directory)
  set(inside FALSE)
  foreach(candidate IN ITEMS "${parent}" "${real_parent}")
    foreach(root IN ITEMS "${directory}" "${real_directory}")
      cmake_path(IS_PREFIX root "${candidate}" NORMALIZE prefixed)
      if(prefixed)
        set(inside TRUE)
      endif()
    endforeach()
  endforeach()
  set(${out_variable} ${inside} PARENT_SCOPE)
endfunction()

function(cellscape_torch_stray out_variable)
  set(${out_variable} "" PARENT_SCOPE)
  if(TORCH_INSTALL_PREFIX)
    set(prefix "${TORCH_INSTALL_PREFIX}")
  elseif(Torch_DIR)
    _cellscape_torch_prefix("${Torch_DIR}" prefix)
  else()
    return()
  endif()
  set(library_dir "${prefix}/lib")
  # LibTorch's own libraries, by file name (TORCH_LIBRARIES also holds the
  # CUDA toolkit's, which lie elsewhere).
  set(own_library "^(lib)?(torch|c10|caffe2|kineto|shm)([_.-]|$)")

  set(strays "")
  set(stray_files "")
  set(fixes "")
  foreach(pair IN LISTS _cellscape_torch_pinned_variables)
    string(REGEX REPLACE "=.*" "" variable "${pair}")
    string(REGEX REPLACE ".*=" "" name "${pair}")
    set(file "${${variable}}")
    if(IS_ABSOLUTE "${file}")
      _cellscape_torch_inside("${file}" "${library_dir}" inside)
      if(NOT inside)
        list(APPEND strays "${variable} is ${file}")
        list(APPEND stray_files "${file}")
        _cellscape_torch_library_in(${name} "${library_dir}" pinned)
        list(APPEND fixes "-D${variable}=${pinned}")
      endif()
    endif()
  endforeach()
  if(Torch_DIR AND Caffe2_DIR)
    get_filename_component(caffe2_dir "${Torch_DIR}/../Caffe2" ABSOLUTE)
    file(REAL_PATH "${caffe2_dir}" real_caffe2_dir)
    file(REAL_PATH "${Caffe2_DIR}" real_found)
    if(EXISTS "${caffe2_dir}/Caffe2Config.cmake" AND NOT real_found STREQUAL real_caffe2_dir)
      list(APPEND strays "Caffe2_DIR is ${Caffe2_DIR}")
      list(APPEND fixes "-DCaffe2_DIR=${caffe2_dir}")
    endif()
  endif()
  # TORCH_LIBRARIES, and the files of the imported targets the torch target
  # links, transitively (through $<TARGET_FILE:...> and $<TARGET_PROPERTY:...>
  # too, as Caffe2Targets.cmake writes them).
  set(queue "")
  foreach(entry IN LISTS TORCH_LIBRARIES)
    if(TARGET "${entry}")
      list(APPEND queue "${entry}")
    elseif(IS_ABSOLUTE "${entry}")
      get_filename_component(file_name "${entry}" NAME)
      if(file_name MATCHES "${own_library}")
        _cellscape_torch_inside("${entry}" "${library_dir}" inside)
        if(NOT inside AND NOT "${entry}" IN_LIST stray_files)
          list(APPEND strays "TORCH_LIBRARIES holds ${entry}")
        endif()
      endif()
    endif()
  endforeach()
  if(TARGET torch)
    list(APPEND queue torch)
  endif()
  set(seen "")
  while(queue)
    list(POP_FRONT queue target)
    get_target_property(aliased "${target}" ALIASED_TARGET)
    if(aliased)
      set(target "${aliased}")
    endif()
    if(target IN_LIST seen)
      continue()
    endif()
    list(APPEND seen "${target}")
    get_target_property(imported "${target}" IMPORTED)
    get_target_property(type "${target}" TYPE)
    if(imported AND NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(locations "${target}" IMPORTED_LOCATION)
      get_target_property(configurations "${target}" IMPORTED_CONFIGURATIONS)
      foreach(configuration IN LISTS configurations)
        get_target_property(location "${target}" IMPORTED_LOCATION_${configuration})
        list(APPEND locations "${location}")
      endforeach()
      foreach(location IN LISTS locations)
        get_filename_component(file_name "${location}" NAME)
        if(location AND file_name MATCHES "${own_library}")
          _cellscape_torch_inside("${location}" "${library_dir}" inside)
          if(NOT inside)
            list(APPEND strays "the imported target ${target} is ${location}")
          endif()
        endif()
      endforeach()
    endif()
    get_target_property(links "${target}" INTERFACE_LINK_LIBRARIES)
    if(links)
      string(REGEX MATCHALL "TARGET_(FILE|PROPERTY):[^,>]+" named "${links}")
      foreach(link IN LISTS links named)
        string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" link "${link}")
        string(REGEX REPLACE "^TARGET_(FILE|PROPERTY):" "" link "${link}")
        if(TARGET "${link}")
          list(APPEND queue "${link}")
        endif()
      endforeach()
    endif()
  endwhile()

  if(strays)
    list(JOIN strays ", " strays)
    if(fixes)
      list(JOIN fixes " " fixes)
      set(fixes "configure with ${fixes}, or ")
    endif()
    set(${out_variable}
        "cellscape: every LibTorch library must come from the LibTorch that find_package(Torch) found in ${prefix}, but ${strays}: ${fixes}delete this build's CMakeCache.txt and configure again, or uninstall the other LibTorch (on Debian, python3-torch puts one in /usr/lib/x86_64-linux-gnu)"
        PARENT_SCOPE)
  endif()
endfunction()
