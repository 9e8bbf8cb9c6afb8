// UserAccounts: what each user's peers make the broker hold, and how much of it another user may take.
//
// Every resource a peer can pin in the broker is charged to a user's account: bytes and fds queued for
// that user's connections (or held while a message of theirs is still arriving), match rules, names,
// pending replies, and, on the account of the user the broker runs as, the bus-wide pools (incomplete
// connections, pending service starts). A user never holds more than its account's maximum. When the
// charge is made on behalf of another user (the actor: a sender filling a receiver's queue, a client
// taking a bus-wide slot), the actor may take only a share of what is left: after the charge it may hold
// at most (remaining + its holding) / (actors + 1), where actors counts the users holding some of that
// resource on this account, itself included. One greedy user thus gets about half of an idle account and
// less as others join; whoever comes next still finds room. Charges a user makes on its own account
// are bounded only by the maximum.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

namespace jetbus::broker {

enum class Resource : uint8_t {
    bytes,                 // message bytes queued for the user's connections or being received from them
    fds,                   // unix fds likewise
    match_rules,
    names,                 // well-known names owned or queued for
    replies,               // calls of the user's awaiting their reply
    incomplete_connections,  // bus pool: accepted, not yet past Hello
    service_starts,        // bus pool: callers waiting on an activation
    count_
};
constexpr size_t resource_count = static_cast<size_t>(Resource::count_);
const char* resource_name(Resource r);

struct UserQuota {
    std::array<size_t, resource_count> max{};
    size_t& operator[](Resource r) { return max[static_cast<size_t>(r)]; }
    size_t operator[](Resource r) const { return max[static_cast<size_t>(r)]; }
};

class UserAccounts;

class UserAccount {
public:
    UserAccount(UserAccounts& owner, uid_t uid);
    uid_t uid() const { return uid_; }
    size_t used(Resource r) const { return used_[idx(r)]; }
    size_t used_by(Resource r, uid_t actor) const;
    size_t max(Resource r) const { return limits_[idx(r)]; }
    // How many users hold some of r on this account.
    size_t holders(Resource r) const { return holders_[idx(r)]; }

    // The actor's slot on this account; stable for the account's life (kept when its charges reach zero,
    // so a peer that sends and is drained costs no allocation per message).
    uint32_t actor_slot(uid_t actor);
    // Whether the actor may add amount of r (the maximum, and the share rule above).
    bool may_charge(uint32_t slot, Resource r, size_t amount) const {
        if (amount == 0) return true;
        const size_t i = idx(r);
        if (used_[i] > limits_[i] || amount > limits_[i] - used_[i]) return false;
        return slot == self_slot || within_share(slot, i, amount);
    }
    // Records the charge whatever the limits say (callers check may_charge first where they may refuse).
    void charge(uint32_t slot, Resource r, size_t amount) {
        if (amount == 0) return;
        const size_t i = idx(r);
        size_t& held = actors_[slot].used[i];
        if (held == 0) ++holders_[i];
        held += amount;
        used_[i] += amount;
    }
    void release(uint32_t slot, Resource r, size_t amount) {
        if (amount == 0) return;
        const size_t i = idx(r);
        Actor& a = actors_[slot];
        a.used[i] -= amount;
        used_[i] -= amount;
        if (a.used[i] == 0) {
            --holders_[i];
            a.warned[i] = false;
        }
        if (connections_ == 0) drop_if_idle();  // may destroy this account: nothing may follow
    }
    // A connection's own charges (its queue, its rules): the account's own slot.
    static constexpr uint32_t self_slot = 0;
    // may_charge then charge; logs the first refusal for each actor until its holding drains.
    bool try_charge(uint32_t slot, Resource r, size_t amount);
    // The log line of a refusal, once per actor and resource until its holding drains.
    void note_refusal(uint32_t slot, Resource r);
    bool idle() const;

private:
    static size_t idx(Resource r) { return static_cast<size_t>(r); }
    bool within_share(uint32_t slot, size_t i, size_t amount) const;
    void drop_if_idle();
    struct Actor {
        uid_t uid;
        std::array<size_t, resource_count> used{};
        std::array<bool, resource_count> warned{};
    };
    UserAccounts& owner_;
    const std::array<size_t, resource_count>& limits_;  // the owner's quota, kept current on reload
    uid_t uid_;
    std::array<size_t, resource_count> used_{};
    std::array<size_t, resource_count> holders_{};
    std::vector<Actor> actors_;
    friend class UserAccounts;
    size_t connections_ = 0;   // connections of this user that keep the account (UserAccounts::attach)
};

class UserAccounts {
public:
    explicit UserAccounts(UserQuota quota, uid_t bus_uid = ::getuid()) : quota_(quota), bus_uid_(bus_uid) {}
    ~UserAccounts();
    UserAccounts(const UserAccounts&) = delete;
    UserAccounts& operator=(const UserAccounts&) = delete;

    const UserQuota& quota() const { return quota_; }
    // ReloadConfig: new maxima apply to new charges; nothing held is taken back.
    void set_quota(const UserQuota& q) { quota_ = q; }

    // The account of uid, created on first use. A connection attaches to its user's account for its
    // life; an account with no connection and nothing charged is dropped.
    UserAccount& attach(uid_t uid);
    void detach(UserAccount& a);
    UserAccount* find(uid_t uid);
    // The account of the user the broker runs as: the bus-wide pools are charged there.
    UserAccount& bus_account() { return attach_permanent(bus_uid_); }

    size_t account_count() const { return accounts_.size(); }

private:
    friend class UserAccount;
    UserAccount& attach_permanent(uid_t uid);
    void maybe_drop(UserAccount& a);
    UserQuota quota_;
    uid_t bus_uid_;
    std::unordered_map<uid_t, std::unique_ptr<UserAccount>> accounts_;
};

}  // namespace jetbus::broker
