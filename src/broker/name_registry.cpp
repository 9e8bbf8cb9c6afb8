// NameRegistry. See name_registry.h.
#include "broker/name_registry.h"

#include <algorithm>

namespace jetbus::broker {

namespace {

template <class Q>
auto find_claim(Q& claims, ConnectionId who) {
    return std::find_if(claims.begin(), claims.end(), [who](const auto& c) { return c.who == who; });
}

}  // namespace

RequestNameReply NameRegistry::request(std::string_view name_view, ConnectionId who, uint32_t flags,
                                       std::vector<NameChange>& changes) {
    std::string name(name_view);
    auto [it, created] = names_.try_emplace(name);
    auto& claims = it->second.claims;
    if (created || claims.empty()) {
        claims.push_back({who, flags});
        claims_by_[who].push_back(name);
        ++total_claims_;
        changes.push_back({name, 0, who});
        return RequestNameReply::primary_owner;
    }
    Claim& primary = claims.front();
    if (primary.who == who) {
        primary.flags = flags;
        return RequestNameReply::already_owner;
    }
    auto mine = find_claim(claims, who);
    const bool was_queued = mine != claims.end();
    if ((flags & name_flags::replace_existing) && (primary.flags & name_flags::allow_replacement)) {
        if (was_queued) claims.erase(mine);
        const Claim old = claims.front();
        claims.pop_front();
        if (old.flags & name_flags::do_not_queue) {
            forget_claim(old.who, name);
        } else {
            claims.push_front(old);  // the replaced owner waits first in line
        }
        claims.push_front({who, flags});
        if (!was_queued) {
            claims_by_[who].push_back(name);
            ++total_claims_;
        }
        changes.push_back({name, old.who, who});
        return RequestNameReply::primary_owner;
    }
    if (flags & name_flags::do_not_queue) {
        if (was_queued) {
            claims.erase(mine);
            forget_claim(who, name);
        }
        return RequestNameReply::exists;
    }
    if (was_queued) {
        mine->flags = flags;
    } else {
        claims.push_back({who, flags});
        claims_by_[who].push_back(name);
        ++total_claims_;
    }
    return RequestNameReply::in_queue;
}

ReleaseNameReply NameRegistry::release(std::string_view name_view, ConnectionId who,
                                       std::vector<NameChange>& changes) {
    std::string name(name_view);
    auto it = names_.find(name);
    if (it == names_.end() || it->second.claims.empty()) return ReleaseNameReply::non_existent;
    auto& claims = it->second.claims;
    auto mine = find_claim(claims, who);
    if (mine == claims.end()) return ReleaseNameReply::not_owner;
    const bool was_primary = mine == claims.begin();
    claims.erase(mine);
    forget_claim(who, name);
    if (was_primary) changes.push_back({name, who, claims.empty() ? 0 : claims.front().who});
    drop_if_empty(name);
    return ReleaseNameReply::released;
}

void NameRegistry::remove_connection(ConnectionId who, std::vector<NameChange>& changes) {
    auto it = claims_by_.find(who);
    if (it == claims_by_.end()) return;
    const std::vector<std::string> names = std::move(it->second);
    claims_by_.erase(it);
    total_claims_ -= names.size();
    for (const auto& name : names) {
        auto entry = names_.find(name);
        if (entry == names_.end()) continue;
        auto& claims = entry->second.claims;
        auto mine = find_claim(claims, who);
        if (mine == claims.end()) continue;
        const bool was_primary = mine == claims.begin();
        claims.erase(mine);
        if (was_primary) changes.push_back({name, who, claims.empty() ? 0 : claims.front().who});
        drop_if_empty(name);
    }
}

ConnectionId NameRegistry::owner(std::string_view name) const {
    auto it = names_.find(name);
    if (it == names_.end() || it->second.claims.empty()) return 0;
    return it->second.claims.front().who;
}

std::vector<ConnectionId> NameRegistry::queue(std::string_view name) const {
    std::vector<ConnectionId> out;
    auto it = names_.find(name);
    if (it == names_.end()) return out;
    for (const auto& c : it->second.claims) out.push_back(c.who);
    return out;
}

std::vector<std::string> NameRegistry::names() const {
    std::vector<std::string> out;
    out.reserve(names_.size());
    for (const auto& [name, entry] : names_) {
        if (!entry.claims.empty()) out.push_back(name);
    }
    return out;
}

std::vector<std::string> NameRegistry::names_owned_by(ConnectionId who) const {
    std::vector<std::string> out;
    auto it = claims_by_.find(who);
    if (it == claims_by_.end()) return out;
    for (const auto& name : it->second) {
        if (owner(name) == who) out.push_back(name);
    }
    return out;
}

size_t NameRegistry::claims_of(ConnectionId who) const {
    auto it = claims_by_.find(who);
    return it == claims_by_.end() ? 0 : it->second.size();
}

std::span<const std::string> NameRegistry::claimed_names(ConnectionId who) const {
    auto it = claims_by_.find(who);
    if (it == claims_by_.end()) return {};
    return it->second;
}

void NameRegistry::forget_claim(ConnectionId who, const std::string& name) {
    auto it = claims_by_.find(who);
    if (it == claims_by_.end()) return;
    auto& v = it->second;
    const size_t before = v.size();
    v.erase(std::remove(v.begin(), v.end(), name), v.end());
    total_claims_ -= before - v.size();
    if (v.empty()) claims_by_.erase(it);
}

void NameRegistry::drop_if_empty(const std::string& name) {
    auto it = names_.find(name);
    if (it != names_.end() && it->second.claims.empty()) names_.erase(it);
}

}  // namespace jetbus::broker
