// Counters shared by the emitter and its forked subscribers (one anonymous MAP_SHARED
// mapping, futex wake-ups), so that flow control and loss counting add no traffic to the
// bus under test. Subscribers record every Tick; the emitter reads the slowest one.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace jetbus::bench {

enum class SlotState : std::uint32_t { starting, ready, failed, gone };

// One subscriber's view; cache-line aligned so subscribers do not share lines.
struct alignas(64) SubscriberSlot {
    std::atomic<std::uint64_t> seen{0};          // Tick signals received, in any order
    std::atomic<std::uint64_t> out_of_order{0};  // Ticks whose sequence number was not the next one
    std::atomic<std::uint32_t> state{0};         // SlotState
};

class SharedProgress {
public:
    explicit SharedProgress(unsigned slots);
    ~SharedProgress();
    SharedProgress(const SharedProgress&) = delete;
    SharedProgress& operator=(const SharedProgress&) = delete;

    unsigned size() const { return n_; }
    const SubscriberSlot& slot(unsigned i) const { return slots_[i]; }

    // Subscriber side. record() counts one Tick and wakes the emitter when this
    // subscriber reaches the count the emitter waits for.
    void record(unsigned i, std::uint64_t sequence);
    void set_state(unsigned i, SlotState s);  // always wakes the emitter

    // Emitter side.
    std::uint64_t min_seen() const;
    std::uint64_t total_seen() const;
    unsigned count_in(SlotState s) const;
    bool any_down() const { return count_in(SlotState::failed) + count_in(SlotState::gone) > 0; }

    // Sleeps until min_seen() >= threshold, a subscriber changes state, or timeout_ms
    // passes (so a missed wake-up costs at most timeout_ms).
    void wait_for(std::uint64_t threshold, int timeout_ms);

private:
    struct Header {
        std::atomic<std::uint32_t> wake_seq{0};    // the futex word
        std::atomic<std::uint64_t> threshold{0};   // the count the emitter waits for
    };
    void wake();

    void* map_ = nullptr;
    std::size_t bytes_ = 0;
    Header* header_ = nullptr;
    SubscriberSlot* slots_ = nullptr;
    unsigned n_ = 0;
};

}  // namespace jetbus::bench
