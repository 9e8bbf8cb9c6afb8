// ReplyRegistry: the method calls that await a reply. A reply (METHOD_RETURN or ERROR) is delivered only
// when its (destination, REPLY_SERIAL) names a call that went from that destination to the replier; each
// expected reply is delivered once. When a callee goes away its callers are owed a NoReply error.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory_resource>
#include <unordered_map>
#include <vector>

#include "broker/name_registry.h"
#include "broker/ring_queue.h"

namespace jetbus::broker {

struct PendingCall {
    ConnectionId caller = 0;
    uint32_t serial = 0;
};

class ReplyRegistry {
public:
    using Clock = std::chrono::steady_clock;
    // deadline: when the bus answers NoReply itself (reply_timeout); Clock::time_point::max() for never.
    void expect(ConnectionId caller, uint32_t serial, ConnectionId callee,
                Clock::time_point deadline = Clock::time_point::max());
    // The earliest deadline still pending (max() when none), and the calls whose deadline has passed
    // (forgotten here; their callers are owed a NoReply).
    Clock::time_point next_deadline();
    void expire(Clock::time_point now, std::vector<PendingCall>& expired);
    // True (and forgets the slot) when callee owes caller a reply to serial.
    bool take(ConnectionId caller, uint32_t serial, ConnectionId callee);
    // True when callee already owes caller a reply to serial (a second call with that serial is refused).
    bool awaits(ConnectionId caller, uint32_t serial, ConnectionId callee) const {
        return waiting(Slot{caller, serial, callee});
    }
    size_t pending_for(ConnectionId caller) const;
    // The calls a departing callee will never answer; forgets them and those the departing caller made.
    void remove_connection(ConnectionId who, std::vector<PendingCall>& unanswered);

private:
    static uint64_t key(ConnectionId caller, uint32_t serial) { return (caller << 32) ^ serial; }
    struct Slot {
        ConnectionId caller;
        uint32_t serial;
        ConnectionId callee;
    };
    struct Deadline {
        Clock::time_point when;
        Slot slot;
    };
    // Nodes come from a pool: a call and its reply allocate nothing once the pool has warmed up.
    std::pmr::unsynchronized_pool_resource pool_;
    std::pmr::unordered_multimap<uint64_t, Slot> slots_{&pool_};
    std::pmr::unordered_map<ConnectionId, size_t> per_caller_{&pool_};
    // One reply_timeout for all calls, so deadlines come in insertion order: a FIFO, not a heap.
    // Entries whose reply already came are skipped when they reach the front.
    RingQueue<Deadline> deadlines_;
    // Drops up to `budget` answered entries from the front, so the queue holds about the calls still
    // waiting rather than every call of the last reply_timeout.
    void prune_answered(size_t budget);
    bool waiting(const Slot& s) const;
};

}  // namespace jetbus::broker
