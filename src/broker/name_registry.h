// NameRegistry: well-known names, their primary owners and queues of waiting owners, with the semantics of
// RequestName/ReleaseName in the specification ("Message Bus Names"). It knows connections only by id and
// reports every change of primary owner so the caller can send NameOwnerChanged, NameLost and NameAcquired.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/string_map.h"

namespace jetbus::broker {

using ConnectionId = uint64_t;  // 0: nobody

namespace name_flags {
constexpr uint32_t allow_replacement = 0x1;
constexpr uint32_t replace_existing = 0x2;
constexpr uint32_t do_not_queue = 0x4;
}  // namespace name_flags

enum class RequestNameReply : uint32_t { primary_owner = 1, in_queue = 2, exists = 3, already_owner = 4 };
enum class ReleaseNameReply : uint32_t { released = 1, non_existent = 2, not_owner = 3 };

struct NameChange {
    std::string name;
    ConnectionId old_owner = 0;
    ConnectionId new_owner = 0;
};

class NameRegistry {
public:
    RequestNameReply request(std::string_view name, ConnectionId who, uint32_t flags,
                             std::vector<NameChange>& changes);
    ReleaseNameReply release(std::string_view name, ConnectionId who, std::vector<NameChange>& changes);
    // Drops every claim of a departing connection.
    void remove_connection(ConnectionId who, std::vector<NameChange>& changes);

    ConnectionId owner(std::string_view name) const;
    std::vector<ConnectionId> queue(std::string_view name) const;  // primary owner first
    std::vector<std::string> names() const;                        // names that have an owner
    std::vector<std::string> names_owned_by(ConnectionId who) const;  // as primary owner
    size_t claims_of(ConnectionId who) const;                      // names owned or queued for
    size_t total_claims() const { return total_claims_; }          // over every connection
    // Every name who owns or is queued for (what send_destination rules look at), without copying.
    std::span<const std::string> claimed_names(ConnectionId who) const;

private:
    struct Claim {
        ConnectionId who;
        uint32_t flags;
    };
    struct Entry {
        std::deque<Claim> claims;  // front: primary owner
    };
    void forget_claim(ConnectionId who, const std::string& name);
    void drop_if_empty(const std::string& name);

    StringMap<Entry> names_;
    std::unordered_map<ConnectionId, std::vector<std::string>> claims_by_;
    size_t total_claims_ = 0;  // the sum of claims_by_'s vector sizes
};

}  // namespace jetbus::broker
