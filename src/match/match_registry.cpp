// MatchRegistry: per-owner rule lists (what clients see: counts, listing, removal by value) kept
// in step with the MatchIndex that routing uses.
#include "match/match_registry.h"

#include <algorithm>

namespace jetbus::match {

// The index points at rules inside the owner's vector; after it moves or shifts, point again.
void MatchRegistry::repoint(OwnerRules& o, size_t from) {
    for (size_t i = from; i < o.rules.size(); ++i) o.indexed[i]->rule = &o.rules[i];
}

void MatchRegistry::add(MatchOwner owner, MatchRule rule) {
    OwnerRules& o = owners_[owner];
    o.owner.id = owner;
    ++by_args_inspected_[args_inspected(rule)];
    auto entry = std::make_unique<IndexedRule>();
    entry->owner = &o.owner;
    const MatchRule* before = o.rules.data();
    o.rules.push_back(std::move(rule));
    o.indexed.push_back(std::move(entry));
    repoint(o, o.rules.data() == before ? o.rules.size() - 1 : 0);
    index_.insert(*o.indexed.back());
    ++total_;
}

// Removes the most recently added equal rule, as dbus-daemon does; equal rules are
// indistinguishable, so which one goes is invisible to clients.
bool MatchRegistry::remove(MatchOwner owner, const MatchRule& rule) {
    auto it = owners_.find(owner);
    if (it == owners_.end()) return false;
    OwnerRules& o = it->second;
    auto found = std::find(o.rules.rbegin(), o.rules.rend(), rule);
    if (found == o.rules.rend()) return false;
    const size_t pos = static_cast<size_t>(o.rules.rend() - found) - 1;
    --by_args_inspected_[args_inspected(*found)];
    index_.erase(*o.indexed[pos]);
    o.rules.erase(o.rules.begin() + pos);
    o.indexed.erase(o.indexed.begin() + pos);
    repoint(o, pos);
    --total_;
    if (o.rules.empty()) owners_.erase(it);
    return true;
}

void MatchRegistry::remove_all(MatchOwner owner) {
    auto it = owners_.find(owner);
    if (it == owners_.end()) return;
    OwnerRules& o = it->second;
    for (size_t i = 0; i < o.rules.size(); ++i) {
        --by_args_inspected_[args_inspected(o.rules[i])];
        index_.erase(*o.indexed[i]);
    }
    total_ -= o.rules.size();
    owners_.erase(it);
}

size_t MatchRegistry::count(MatchOwner owner) const {
    auto it = owners_.find(owner);
    return it == owners_.end() ? 0 : it->second.rules.size();
}

std::span<const MatchRule> MatchRegistry::rules(MatchOwner owner) const {
    auto it = owners_.find(owner);
    if (it == owners_.end()) return {};
    return it->second.rules;
}

size_t MatchRegistry::args_needed() const {
    for (size_t n = by_args_inspected_.size(); n > 0; --n)
        if (by_args_inspected_[n - 1] != 0) return n - 1;
    return 0;
}

// The index lists each owner once, unordered; delivery order is ascending owner id.
void MatchRegistry::collect(const MatchInput& message, bool include_eavesdrop,
                            std::vector<MatchOwner>& out) const {
    const size_t first = out.size();
    index_.collect(message, include_eavesdrop, ++stamp_, out);
    std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
}

}  // namespace jetbus::match
