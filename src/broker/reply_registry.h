// ReplyRegistry: the method calls that await a reply. A reply (METHOD_RETURN or ERROR) is delivered only
// when its (destination, REPLY_SERIAL) names a call that went from that destination to the replier; each
// expected reply is delivered once. When a callee goes away its callers are owed a NoReply error.
#pragma once

#include <cstdint>
#include <memory_resource>
#include <unordered_map>
#include <vector>

#include "broker/name_registry.h"

namespace jetbus::broker {

struct PendingCall {
    ConnectionId caller = 0;
    uint32_t serial = 0;
};

class ReplyRegistry {
public:
    void expect(ConnectionId caller, uint32_t serial, ConnectionId callee);
    // True (and forgets the slot) when callee owes caller a reply to serial.
    bool take(ConnectionId caller, uint32_t serial, ConnectionId callee);
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
    // Nodes come from a pool: a call and its reply allocate nothing once the pool has warmed up.
    std::pmr::unsynchronized_pool_resource pool_;
    std::pmr::unordered_multimap<uint64_t, Slot> slots_{&pool_};
    std::pmr::unordered_map<ConnectionId, size_t> per_caller_{&pool_};
};

}  // namespace jetbus::broker
