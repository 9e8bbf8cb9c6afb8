// Counts the heap allocations this thread makes while a measurement runs, split by whether the bus's
// io_context was running (BusScope) or the test's own client code was. The alloc unit test uses it to
// prove that routing a message allocates nothing once the bus has warmed up.
//
// What is counted: the C allocator's entry points (malloc, calloc, realloc, aligned_alloc, posix_memalign,
// memalign), replaced in this executable and forwarded to glibc's __libc_* implementations. Every C++
// allocation goes through them too (libstdc++'s operator new, aligned or not, calls malloc or
// aligned_alloc), and so do Boost, fmt, spdlog and glibc itself, so one hook sees every heap allocation
// without counting a new-expression twice. Freeing is not counted: an allocation is the cost asked about.
//
// Under AddressSanitizer (or ThreadSanitizer) the sanitizer owns malloc, so nothing is replaced and
// counting_available is false: the tests still drive the traffic but cannot count.
//
// To find where a counted allocation comes from, run the test under gdb with a breakpoint on
// jetbus::test::alloc::on_counted_allocation and take a backtrace at each stop.
#pragma once

#include <cstdint>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define JETBUS_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define JETBUS_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef JETBUS_COUNT_ALLOCATIONS
#define JETBUS_COUNT_ALLOCATIONS 1
#endif

namespace jetbus::test::alloc {

constexpr bool counting_available = JETBUS_COUNT_ALLOCATIONS != 0;

struct AllocationCounts {
    uint64_t in_bus = 0;      // made while the bus's io_context ran (inside a BusScope)
    uint64_t elsewhere = 0;   // made by the test's own code on this thread
};

// Starts counting this thread's allocations from zero; stop_measuring() ends it and returns the counts.
void start_measuring();
AllocationCounts stop_measuring();

// Marks the stretch in which the bus runs (io.poll()), so its allocations are told from the client's.
class BusScope {
public:
    BusScope();
    ~BusScope();
    BusScope(const BusScope&) = delete;
    BusScope& operator=(const BusScope&) = delete;

private:
    bool outer_;
};

// Called for every counted allocation; does nothing, exists to put a debugger breakpoint on.
void on_counted_allocation();

}  // namespace jetbus::test::alloc
