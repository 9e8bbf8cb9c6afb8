# Included from the top-level CMakeLists.txt before the libraries are defined, so that with
# -DJETBUS_FUZZ=ON every library is compiled with coverage instrumentation and the sanitizers,
# which libFuzzer needs to steer. Only clang has libFuzzer: a g++ build never sees any of this.
# Use a separate build dir: CC=clang-16 CXX=clang++-16 cmake -B build-fuzz -DJETBUS_FUZZ=ON (./dev fuzz).
option(JETBUS_FUZZ "Build the libFuzzer targets in tests/fuzz (clang only; instruments every library)" OFF)
if(JETBUS_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "JETBUS_FUZZ needs clang (libFuzzer): configure with CC=clang-16 CXX=clang++-16")
  endif()
  if(CMAKE_CXX_COMPILER_VERSION VERSION_LESS 16)
    # Seen with Debian 12's clang 14: it refuses lambdas capturing structured bindings (C++20).
    message(WARNING "clang ${CMAKE_CXX_COMPILER_VERSION} may not compile jetbus; ./dev fuzz uses clang 16")
  endif()
  # -O1 and assertions on, whatever the build type: fast enough to fuzz, and invariants still checked.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer -O1 -g -UNDEBUG)
  add_link_options(-fsanitize=address,undefined)
  add_subdirectory(${CMAKE_CURRENT_LIST_DIR} ${CMAKE_BINARY_DIR}/tests/fuzz)
endif()
