// MatchRegistry: per-owner rule lists in an ordered map. Straightforward on purpose: correctness
// reference for the indexed engine that replaces it.
#include "match/match_registry.h"

#include <algorithm>

namespace jetbus::match {

void MatchRegistry::add(MatchOwner owner, MatchRule rule) {
    ++by_args_inspected_[args_inspected(rule)];
    rules_[owner].push_back(std::move(rule));
    ++total_;
}

// Removes the most recently added equal rule, as dbus-daemon does; equal rules are
// indistinguishable, so which one goes is invisible to clients.
bool MatchRegistry::remove(MatchOwner owner, const MatchRule& rule) {
    auto it = rules_.find(owner);
    if (it == rules_.end()) return false;
    auto& list = it->second;
    auto found = std::find(list.rbegin(), list.rend(), rule);
    if (found == list.rend()) return false;
    --by_args_inspected_[args_inspected(*found)];
    list.erase(std::next(found).base());
    --total_;
    if (list.empty()) rules_.erase(it);
    return true;
}

void MatchRegistry::remove_all(MatchOwner owner) {
    auto it = rules_.find(owner);
    if (it == rules_.end()) return;
    for (const MatchRule& rule : it->second) --by_args_inspected_[args_inspected(rule)];
    total_ -= it->second.size();
    rules_.erase(it);
}

size_t MatchRegistry::count(MatchOwner owner) const {
    auto it = rules_.find(owner);
    return it == rules_.end() ? 0 : it->second.size();
}

std::span<const MatchRule> MatchRegistry::rules(MatchOwner owner) const {
    auto it = rules_.find(owner);
    if (it == rules_.end()) return {};
    return it->second;
}

size_t MatchRegistry::args_needed() const {
    for (size_t n = by_args_inspected_.size(); n > 0; --n)
        if (by_args_inspected_[n - 1] != 0) return n - 1;
    return 0;
}

void MatchRegistry::collect(const MatchInput& message, bool include_eavesdrop,
                            std::vector<MatchOwner>& out) const {
    for (const auto& [owner, list] : rules_) {
        bool wanted = std::any_of(list.begin(), list.end(), [&](const MatchRule& rule) {
            return matches(rule, message, include_eavesdrop);
        });
        if (wanted) out.push_back(owner);
    }
}

}  // namespace jetbus::match
