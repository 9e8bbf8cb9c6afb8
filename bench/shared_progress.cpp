// SharedProgress: the mapping, the Dekker-style threshold handshake (seq_cst stores then
// loads on both sides), and a process-shared futex for the emitter's sleep.
#include "shared_progress.h"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>
#include <limits>
#include <new>
#include <stdexcept>

namespace jetbus::bench {
namespace {

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t val, const timespec* timeout) {
    // Not FUTEX_PRIVATE_FLAG: the word lives in memory shared between processes.
    return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, val, timeout, nullptr, 0);
}

constexpr std::size_t header_bytes = 64;  // keeps the slots on their own cache lines

}  // namespace

SharedProgress::SharedProgress(unsigned slots) : n_(slots) {
    static_assert(sizeof(Header) <= header_bytes);
    bytes_ = header_bytes + sizeof(SubscriberSlot) * slots;
    map_ = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (map_ == MAP_FAILED) throw std::runtime_error("mmap of the shared progress counters failed");
    header_ = new (map_) Header;
    slots_ = reinterpret_cast<SubscriberSlot*>(static_cast<char*>(map_) + header_bytes);
    for (unsigned i = 0; i < slots; ++i) new (&slots_[i]) SubscriberSlot;
    header_->threshold.store(std::numeric_limits<std::uint64_t>::max());
}

SharedProgress::~SharedProgress() { munmap(map_, bytes_); }

void SharedProgress::wake() {
    header_->wake_seq.fetch_add(1);
    futex(&header_->wake_seq, FUTEX_WAKE, INT_MAX, nullptr);
}

void SharedProgress::record(unsigned i, std::uint64_t sequence) {
    SubscriberSlot& s = slots_[i];
    const std::uint64_t before = s.seen.load(std::memory_order_relaxed);
    if (sequence != before) s.out_of_order.fetch_add(1, std::memory_order_relaxed);
    s.seen.store(before + 1);
    if (before + 1 == header_->threshold.load()) wake();
}

void SharedProgress::set_state(unsigned i, SlotState st) {
    slots_[i].state.store(static_cast<std::uint32_t>(st));
    wake();
}

std::uint64_t SharedProgress::min_seen() const {
    std::uint64_t m = std::numeric_limits<std::uint64_t>::max();
    for (unsigned i = 0; i < n_; ++i) m = std::min(m, slots_[i].seen.load());
    return m;
}

std::uint64_t SharedProgress::total_seen() const {
    std::uint64_t t = 0;
    for (unsigned i = 0; i < n_; ++i) t += slots_[i].seen.load();
    return t;
}

unsigned SharedProgress::count_in(SlotState st) const {
    unsigned c = 0;
    for (unsigned i = 0; i < n_; ++i) c += slots_[i].state.load() == static_cast<std::uint32_t>(st);
    return c;
}

void SharedProgress::wait_for(std::uint64_t threshold, int timeout_ms) {
    const std::uint32_t seq = header_->wake_seq.load();
    header_->threshold.store(threshold);
    if (min_seen() >= threshold) return;
    const timespec timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1'000'000L};
    futex(&header_->wake_seq, FUTEX_WAIT, seq, &timeout);
}

}  // namespace jetbus::bench
