// Rule texts, pipelined AddMatch, Tick sending and the helper process bodies. Set-up
// failures throw (start-up only); the Tick filter never does.
#include "signal_peers.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace jetbus::bench {
namespace {

using Clock = std::chrono::steady_clock;

// AddMatch calls in flight per connection while installing rules: enough to hide the
// round trip, well under every bus's max_replies_per_connection (128 by default).
constexpr unsigned add_match_window = 64;
// Bound on installing one connection's rules; 10,000 rules take well under a second.
constexpr std::chrono::seconds add_match_timeout{60};
// sd_bus_wait granularity of the helper loops.
constexpr std::uint64_t helper_wait_us = 1'000'000;

struct AddMatchBatch {
    sd_bus* bus;
    const std::vector<std::string>* rules;
    std::size_t issued = 0;
    std::size_t answered = 0;
    std::string first_error;
};

int on_add_match_reply(sd_bus_message* reply, void* userdata, sd_bus_error*);

void issue_add_match(AddMatchBatch& b) {
    const int r = sd_bus_call_method_async(b.bus, nullptr, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                           "org.freedesktop.DBus", "AddMatch", on_add_match_reply, &b, "s",
                                           (*b.rules)[b.issued].c_str());
    check_sd(r, "sending AddMatch");
    ++b.issued;
}

int on_add_match_reply(sd_bus_message* reply, void* userdata, sd_bus_error*) {
    auto& b = *static_cast<AddMatchBatch*>(userdata);
    ++b.answered;
    if (const sd_bus_error* e = sd_bus_message_get_error(reply); e && b.first_error.empty())
        b.first_error = fmt::format("AddMatch(\"{}\") failed: {}: {}", (*b.rules)[b.answered - 1],
                                    e->name ? e->name : "?", e->message ? e->message : "");
    if (b.issued < b.rules->size() && b.first_error.empty()) issue_add_match(b);
    return 0;
}

int on_tick(sd_bus_message* m, void* userdata, sd_bus_error*) {
    if (!sd_bus_message_is_signal(m, Tick::interface, Tick::member)) return 0;
    auto* target = static_cast<std::pair<SharedProgress*, unsigned>*>(userdata);
    const char* arg0 = nullptr;
    std::uint64_t sequence = UINT64_MAX;  // an unreadable body counts as out of order
    sd_bus_message_read(m, "st", &arg0, &sequence);
    target->first->record(target->second, sequence);
    return 1;
}

// Runs the connection until it drops (or the process is killed).
int serve_until_closed(sd_bus* bus) {
    for (;;) {
        int r = sd_bus_process(bus, nullptr);
        if (r < 0) return 0;
        if (r > 0) continue;
        r = sd_bus_wait(bus, helper_wait_us);
        if (r < 0 && r != -EINTR) return 0;
    }
}

}  // namespace

std::string matching_rule(RuleKind kind) {
    const std::string base = fmt::format("type='signal',interface='{}'", Tick::interface);
    switch (kind) {
        case RuleKind::member: return fmt::format("{},path='{}',member='{}'", base, Tick::path, Tick::member);
        case RuleKind::path_namespace:
            return fmt::format("{},member='{}',path_namespace='/org/jetbus/Bench'", base, Tick::member);
        case RuleKind::arg0:
            return fmt::format("{},path='{}',member='{}',arg0='{}'", base, Tick::path, Tick::member, Tick::arg0);
    }
    return base;
}

std::string non_matching_rule(RuleKind kind, std::uint64_t i) {
    const std::string base = fmt::format("type='signal',interface='{}'", Tick::interface);
    switch (kind) {
        case RuleKind::member: return fmt::format("{},path='{}',member='Tock{}'", base, Tick::path, i);
        case RuleKind::path_namespace:
            return fmt::format("{},member='{}',path_namespace='/org/jetbus/Bench/Other{}'", base, Tick::member, i);
        case RuleKind::arg0:
            return fmt::format("{},path='{}',member='{}',arg0='other{}'", base, Tick::path, Tick::member, i);
    }
    return base;
}

std::vector<std::string> non_matching_rules(RuleKind kind, std::uint64_t first, std::uint64_t count) {
    std::vector<std::string> out;
    out.reserve(count);
    for (std::uint64_t i = first; i < first + count; ++i) out.push_back(non_matching_rule(kind, i));
    return out;
}

void add_matches(sd_bus* bus, const std::vector<std::string>& rules) {
    AddMatchBatch b{bus, &rules, 0, 0, {}};
    while (b.issued < rules.size() && b.issued < add_match_window) issue_add_match(b);
    const auto deadline = Clock::now() + add_match_timeout;
    while (b.answered < b.issued) {
        if (Clock::now() > deadline) throw std::runtime_error("AddMatch replies did not arrive within 60 s");
        const int r = check_sd(sd_bus_process(bus, nullptr), "AddMatch: connection lost");
        if (r == 0) sd_bus_wait(bus, helper_wait_us);
    }
    if (!b.first_error.empty()) throw std::runtime_error(b.first_error);
}

int send_tick(sd_bus* bus, std::uint64_t sequence) {
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_signal(bus, &raw, Tick::path, Tick::interface, Tick::member);
    if (r < 0) return r;
    MessagePtr m(raw);
    r = sd_bus_message_append(raw, "st", Tick::arg0, sequence);
    return r < 0 ? r : sd_bus_send(bus, raw, nullptr);
}

int subscriber_main(const std::string& address, const std::string& rule,
                    const std::vector<std::string>& extra_rules, SharedProgress& progress, unsigned index) {
    try {
        BusPtr bus = connect_to_bus(address);
        std::pair<SharedProgress*, unsigned> target{&progress, index};
        check_sd(sd_bus_add_filter(bus.get(), nullptr, on_tick, &target), "sd_bus_add_filter");
        add_matches(bus.get(), extra_rules);
        add_matches(bus.get(), {rule});
        progress.set_state(index, SlotState::ready);
        serve_until_closed(bus.get());
    } catch (const std::exception& e) {
        fmt::print(stderr, "jetbus-bench subscriber {}: {}\n", index, e.what());
        progress.set_state(index, SlotState::failed);
        return 1;
    }
    progress.set_state(index, SlotState::gone);
    return 0;
}

int rule_holder_main(const std::string& address, unsigned connections, const std::vector<std::string>& rules,
                     SharedProgress& progress) {
    try {
        std::vector<BusPtr> buses;
        for (unsigned c = 0; c < connections; ++c) {
            buses.push_back(connect_to_bus(address));
            // Finish authentication and Hello before the next one: buses limit how many
            // connections may be authenticating at once (max_incomplete_connections).
            const char* unique = nullptr;
            check_sd(sd_bus_get_unique_name(buses.back().get(), &unique), "Hello");
        }
        // Rule j goes to connection j % connections: counts differ by at most one.
        for (unsigned c = 0; c < connections; ++c) {
            std::vector<std::string> mine;
            for (std::size_t j = c; j < rules.size(); j += connections) mine.push_back(rules[j]);
            add_matches(buses[c].get(), mine);
        }
        progress.set_state(0, SlotState::ready);
        for (;;) pause();  // idle until killed: the bus sends these connections nothing
    } catch (const std::exception& e) {
        fmt::print(stderr, "jetbus-bench rule holder: {}\n", e.what());
        progress.set_state(0, SlotState::failed);
        return 1;
    }
}

}  // namespace jetbus::bench
