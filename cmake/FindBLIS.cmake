# FindBLIS: the OpenMP-threaded BLIS library.
#
# Debian ships no blis.pc and installs each threading flavour in its own folder
# (libblis-openmp-dev: /usr/include/<triplet>/blis-openmp, /usr/lib/<triplet>/blis-openmp).
# The OpenMP flavour is required: feddiff hands BLIS an explicit thread count per call, and a
# pthreads or serial BLIS would ignore it or fight the application's OpenMP team.
#
# Sets BLIS_FOUND, BLIS_INCLUDE_DIR, BLIS_LIBRARY and the imported target BLIS::BLIS.
# BLIS_ROOT may point at another installation.

set(_blis_triplet "${CMAKE_LIBRARY_ARCHITECTURE}")
find_path(BLIS_INCLUDE_DIR blis.h
  HINTS "${BLIS_ROOT}/include" "$ENV{BLIS_ROOT}/include"
  PATHS "/usr/include/${_blis_triplet}/blis-openmp" "/usr/include/blis-openmp"
        "/usr/local/include/blis"
  PATH_SUFFIXES blis
  NO_DEFAULT_PATH)
find_path(BLIS_INCLUDE_DIR blis.h PATH_SUFFIXES blis)

find_library(BLIS_LIBRARY NAMES blis
  HINTS "${BLIS_ROOT}/lib" "$ENV{BLIS_ROOT}/lib"
  PATHS "/usr/lib/${_blis_triplet}/blis-openmp" "/usr/lib/blis-openmp"
  NO_DEFAULT_PATH)
find_library(BLIS_LIBRARY NAMES blis)

set(BLIS_HAS_OPENMP FALSE)
if(BLIS_INCLUDE_DIR AND EXISTS "${BLIS_INCLUDE_DIR}/blis.h")
  file(STRINGS "${BLIS_INCLUDE_DIR}/blis.h" _blis_omp REGEX "^#define BLIS_ENABLE_OPENMP$")
  if(_blis_omp)
    set(BLIS_HAS_OPENMP TRUE)
  endif()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(BLIS
  REQUIRED_VARS BLIS_LIBRARY BLIS_INCLUDE_DIR BLIS_HAS_OPENMP
  FAIL_MESSAGE "BLIS with OpenMP threading not found: install libblis-openmp-dev (scripts/setup does) or set BLIS_ROOT")

if(BLIS_FOUND AND NOT TARGET BLIS::BLIS)
  add_library(BLIS::BLIS UNKNOWN IMPORTED)
  set_target_properties(BLIS::BLIS PROPERTIES
    IMPORTED_LOCATION "${BLIS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${BLIS_INCLUDE_DIR}")
  # The library sits outside the loader's default path: record it in the binaries.
  get_filename_component(_blis_libdir "${BLIS_LIBRARY}" DIRECTORY)
  set_property(TARGET BLIS::BLIS APPEND PROPERTY INTERFACE_LINK_OPTIONS "LINKER:-rpath,${_blis_libdir}")
endif()
mark_as_advanced(BLIS_INCLUDE_DIR BLIS_LIBRARY)
