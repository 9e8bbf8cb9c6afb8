// UserAccounts: per-user charges with shares for other users. See user_accounts.h.
#include "broker/user_accounts.h"

#include <spdlog/spdlog.h>

namespace jetbus::broker {

const char* resource_name(Resource r) {
    switch (r) {
    case Resource::bytes: return "bytes";
    case Resource::fds: return "unix fds";
    case Resource::match_rules: return "match rules";
    case Resource::names: return "names";
    case Resource::replies: return "pending replies";
    case Resource::incomplete_connections: return "incomplete connections";
    case Resource::service_starts: return "pending service starts";
    case Resource::count_: break;
    }
    return "?";
}

UserAccount::UserAccount(UserAccounts& owner, uid_t uid) : owner_(owner), limits_(owner.quota_.max), uid_(uid) {
    actors_.push_back({uid});
}

size_t UserAccount::used_by(Resource r, uid_t actor) const {
    for (const Actor& a : actors_)
        if (a.uid == actor) return a.used[idx(r)];
    return 0;
}

uint32_t UserAccount::actor_slot(uid_t actor) {
    for (size_t i = 0; i < actors_.size(); ++i)
        if (actors_[i].uid == actor) return static_cast<uint32_t>(i);
    actors_.push_back({actor});
    return static_cast<uint32_t>(actors_.size() - 1);
}

bool UserAccount::within_share(uint32_t slot, size_t i, size_t amount) const {
    // (holding + amount) * (holders + 1) <= remaining + holding, holders counting this actor.
    // Multiplication instead of a division, in 128 bits so no maximum can overflow it.
    const size_t holding = actors_[slot].used[i];
    const size_t holders = holders_[i] + (holding == 0 ? 1 : 0);
    const size_t remaining = limits_[i] - used_[i];
    const unsigned __int128 want = static_cast<unsigned __int128>(holding + amount) * (holders + 1);
    return want <= static_cast<unsigned __int128>(remaining) + holding;
}

void UserAccount::drop_if_idle() { owner_.maybe_drop(*this); }

bool UserAccount::try_charge(uint32_t slot, Resource r, size_t amount) {
    if (may_charge(slot, r, amount)) {
        charge(slot, r, amount);
        return true;
    }
    note_refusal(slot, r);
    return false;
}

void UserAccount::note_refusal(uint32_t slot, Resource r) {
    Actor& a = actors_[slot];
    if (!a.warned[idx(r)]) {
        a.warned[idx(r)] = true;
        if (slot == self_slot) {
            spdlog::warn("uid {} reached its limit of {} {} (holds {})", uid_, max(r), resource_name(r), used(r));
        } else {
            spdlog::warn("uid {} reached its share of uid {}'s {}: holds {} of {} in use, limit {}, {} users holding",
                         a.uid, uid_, resource_name(r), a.used[idx(r)], used(r), max(r), holders(r));
        }
    }
}

bool UserAccount::idle() const {
    for (size_t u : used_)
        if (u != 0) return false;
    return true;
}

UserAccounts::~UserAccounts() = default;

UserAccount& UserAccounts::attach(uid_t uid) {
    UserAccount& a = attach_permanent(uid);
    ++a.connections_;
    return a;
}

UserAccount& UserAccounts::attach_permanent(uid_t uid) {
    auto it = accounts_.find(uid);
    if (it == accounts_.end()) it = accounts_.emplace(uid, std::make_unique<UserAccount>(*this, uid)).first;
    return *it->second;
}

void UserAccounts::detach(UserAccount& a) {
    if (--a.connections_ == 0) maybe_drop(a);
}

UserAccount* UserAccounts::find(uid_t uid) {
    auto it = accounts_.find(uid);
    return it == accounts_.end() ? nullptr : it->second.get();
}

// The bus's own account holds the bus-wide pools and stays; others go once nothing keeps them.
void UserAccounts::maybe_drop(UserAccount& a) {
    if (a.connections_ != 0 || a.uid_ == bus_uid_ || !a.idle()) return;
    accounts_.erase(a.uid_);
}

}  // namespace jetbus::broker
