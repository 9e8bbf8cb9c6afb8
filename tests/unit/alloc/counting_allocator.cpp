// The replaced C allocator entry points and the per-thread counters behind counting_allocator.h.
#include "counting_allocator.h"

#include <cerrno>
#include <cstddef>
#include <cstdlib>

namespace jetbus::test::alloc {

namespace {

// Plain thread_locals in the executable: reading them needs no allocation (static TLS), which matters
// inside malloc.
thread_local bool measuring = false;
thread_local bool in_bus = false;
thread_local AllocationCounts counts;

}  // namespace

void start_measuring() {
    counts = {};
    measuring = true;
}

AllocationCounts stop_measuring() {
    measuring = false;
    return counts;
}

BusScope::BusScope() : outer_(in_bus) { in_bus = true; }
BusScope::~BusScope() { in_bus = outer_; }

[[gnu::noinline]] void on_counted_allocation() { asm volatile(""); }

namespace {

// Called by every hook before it allocates.
void note_allocation() {
    if (!measuring) return;
    ++(in_bus ? counts.in_bus : counts.elsewhere);
    on_counted_allocation();
}

}  // namespace

}  // namespace jetbus::test::alloc

#if JETBUS_COUNT_ALLOCATIONS

// glibc's allocator under its own names: what malloc and friends are when nobody replaces them.
extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* p, size_t size);
void* __libc_memalign(size_t alignment, size_t size);

void* malloc(size_t size) noexcept {
    jetbus::test::alloc::note_allocation();
    return __libc_malloc(size);
}

void* calloc(size_t count, size_t size) noexcept {
    jetbus::test::alloc::note_allocation();
    return __libc_calloc(count, size);
}

// realloc may move the block: it counts as an allocation unless it frees (size 0).
void* realloc(void* p, size_t size) noexcept {
    if (size != 0) jetbus::test::alloc::note_allocation();
    return __libc_realloc(p, size);
}

void* aligned_alloc(size_t alignment, size_t size) noexcept {
    jetbus::test::alloc::note_allocation();
    return __libc_memalign(alignment, size);
}

void* memalign(size_t alignment, size_t size) noexcept {
    jetbus::test::alloc::note_allocation();
    return __libc_memalign(alignment, size);
}

int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
    // The checks glibc's posix_memalign makes: a power of two, a multiple of sizeof(void*).
    if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0 || alignment == 0) return EINVAL;
    jetbus::test::alloc::note_allocation();
    void* p = __libc_memalign(alignment, size);
    if (p == nullptr) return ENOMEM;
    *out = p;
    return 0;
}
}  // extern "C"

#endif
