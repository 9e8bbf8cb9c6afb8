// ReplyRegistry. See reply_registry.h.
#include "broker/reply_registry.h"

namespace jetbus::broker {

void ReplyRegistry::expect(ConnectionId caller, uint32_t serial, ConnectionId callee, Clock::time_point deadline) {
    slots_.emplace(key(caller, serial), Slot{caller, serial, callee});
    ++per_caller_[caller];
    if (deadline != Clock::time_point::max()) {
        prune_answered(2);  // two out for each one in: the queue cannot outgrow the calls waiting
        deadlines_.push_back({deadline, Slot{caller, serial, callee}});
    }
}

bool ReplyRegistry::waiting(const Slot& s) const {
    auto [first, last] = slots_.equal_range(key(s.caller, s.serial));
    for (auto it = first; it != last; ++it) {
        if (it->second.caller == s.caller && it->second.serial == s.serial && it->second.callee == s.callee) {
            return true;
        }
    }
    return false;
}

void ReplyRegistry::prune_answered(size_t budget) {
    for (; budget > 0 && !deadlines_.empty() && !waiting(deadlines_.front().slot); --budget) deadlines_.pop_front();
}

ReplyRegistry::Clock::time_point ReplyRegistry::next_deadline() {
    while (!deadlines_.empty()) {
        if (waiting(deadlines_.front().slot)) return deadlines_.front().when;
        deadlines_.pop_front();  // answered already
    }
    return Clock::time_point::max();
}

void ReplyRegistry::expire(Clock::time_point now, std::vector<PendingCall>& expired) {
    while (!deadlines_.empty() && deadlines_.front().when <= now) {
        const Slot s = deadlines_.front().slot;
        deadlines_.pop_front();
        if (take(s.caller, s.serial, s.callee)) expired.push_back({s.caller, s.serial});
    }
}

bool ReplyRegistry::take(ConnectionId caller, uint32_t serial, ConnectionId callee) {
    auto [first, last] = slots_.equal_range(key(caller, serial));
    for (auto it = first; it != last; ++it) {
        const Slot& s = it->second;
        if (s.caller == caller && s.serial == serial && s.callee == callee) {
            slots_.erase(it);
            auto pc = per_caller_.find(caller);
            if (pc != per_caller_.end() && --pc->second == 0) per_caller_.erase(pc);
            return true;
        }
    }
    return false;
}

size_t ReplyRegistry::pending_for(ConnectionId caller) const {
    auto it = per_caller_.find(caller);
    return it == per_caller_.end() ? 0 : it->second;
}

void ReplyRegistry::remove_connection(ConnectionId who, std::vector<PendingCall>& unanswered) {
    for (auto it = slots_.begin(); it != slots_.end();) {
        const Slot& s = it->second;
        if (s.callee == who || s.caller == who) {
            if (s.callee == who && s.caller != who) unanswered.push_back({s.caller, s.serial});
            auto pc = per_caller_.find(s.caller);
            if (pc != per_caller_.end() && --pc->second == 0) per_caller_.erase(pc);
            it = slots_.erase(it);
        } else {
            ++it;
        }
    }
}

}  // namespace jetbus::broker
