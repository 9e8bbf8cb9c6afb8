// FUZZ_CHECK: an invariant a fuzz target asserts about the code under test. A failure prints what broke
// and aborts, which libFuzzer reports as a crash and saves the input for.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, what)                                                              \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            std::fprintf(stderr, "%s:%d: invariant broken: %s (%s)\n", __FILE__, __LINE__, \
                         what, #cond);                                                      \
            std::abort();                                                                   \
        }                                                                                   \
    } while (0)
