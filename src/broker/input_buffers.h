// The buffers connections read into, lent for a read and given back once the bytes in them were
// consumed. A connection with nothing half-read holds none, so an idle peer costs no input buffer,
// and a busy bus cycles the same few (hot in cache) instead of one per connection. Single-threaded,
// as the loop is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace jetbus::broker {

class InputBuffers {
  public:
    // One read takes many small messages at once, or a whole message with a 64 KiB body (at 64 KiB
    // such a message took the path for large ones: two reads, and an empty one after, per message).
    // Larger messages are received into their own allocation.
    static constexpr size_t buffer_size = 128 * 1024;
    using Buffer = std::unique_ptr<uint8_t[]>;

    // Not zeroed: recvmsg writes every byte before it is read, and clearing a buffer was most of
    // what a new connection cost.
    Buffer take() {
        if (spare_.empty()) return Buffer(new uint8_t[buffer_size]);
        Buffer b = std::move(spare_.back());
        spare_.pop_back();
        return b;
    }

    // Kept for the next read up to max_spare (enough for the reads one loop turn completes at once);
    // past that freed, so a storm of readers leaves no heap behind.
    void give(Buffer b) {
        if (spare_.size() < max_spare) spare_.push_back(std::move(b));
    }

    size_t spare() const { return spare_.size(); }

    static constexpr size_t max_spare = 16;

  private:
    std::vector<Buffer> spare_ = [] {
        std::vector<Buffer> v;
        v.reserve(max_spare);  // giving back never allocates
        return v;
    }();
};

}  // namespace jetbus::broker
