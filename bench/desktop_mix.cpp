// The desktop mix's processes. A service serves Query(s) -> s on its own path, keeps
// opt.inflight Query calls to the next service of the ring in flight, and emits
// signals_per_call Changed(s item, t sequence) signals per reply it gets. A widget holds
// idle NameOwnerChanged rules plus one sender rule for each of the two services it shows,
// and checks that each service's signals arrive complete and in order. The parent opens
// a gate in shared memory for the warm-up, then for the measured phase, and stops the
// clock once every reply and every signal copy is in.
#include "desktop_mix.h"

#include "child_group.h"
#include "link.h"
#include "shared_progress.h"
#include "signal_peers.h"

#include <fmt/core.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace jetbus::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr unsigned service_count = 3;
constexpr std::array<const char*, service_count> service_roles = {"Im", "AddressBook", "Notifications"};
constexpr unsigned signals_per_call = 4;       // presence, contact and status updates outnumber calls
constexpr unsigned sources_per_widget = 2;     // widget w shows services w % 3 and (w + 1) % 3
constexpr unsigned idle_rules_per_widget = 10;  // NameOwnerChanged watches for names never seen
constexpr unsigned items = 64;                 // distinct arg0 values of Changed
constexpr const char* mix_interface = "org.jetbus.Bench.Mix";
constexpr const char* query_method = "Query";
constexpr const char* changed_signal = "Changed";

// Helpers connect and install their rules first; this only bounds a broken bus.
constexpr std::chrono::seconds ready_timeout{60};
// Nothing answered and nothing delivered for this long: the bus lost messages.
constexpr std::chrono::seconds stall_timeout{5};
// Idle wake-up of the helper loops, and the parent's polling period (its only error).
constexpr std::uint64_t helper_wait_us = 1000;
constexpr useconds_t parent_poll_us = 1000;
// Widgets connect in batches: buses limit connections still authenticating.
constexpr unsigned connect_batch = 32;

std::string service_path(unsigned i) { return std::string("/org/jetbus/Bench/Mix/") + service_roles[i]; }

std::string widget_rule(const std::string& service_name) {
    return fmt::format("type='signal',sender='{}',interface='{}',member='{}'", service_name, mix_interface,
                       changed_signal);
}

std::vector<std::string> idle_rules(unsigned widget) {
    std::vector<std::string> out;
    for (unsigned j = 0; j < idle_rules_per_widget; ++j)
        out.push_back(fmt::format("type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                                  "member='NameOwnerChanged',arg0='org.jetbus.Bench.Mix.Absent{}x{}'",
                                  widget, j));
    return out;
}

// Runs the connection until done() holds; false when the connection failed.
bool serve_until(sd_bus* bus, const std::function<bool()>& done) {
    while (!done()) {
        const int r = sd_bus_process(bus, nullptr);
        if (r < 0) return false;
        if (r == 0 && sd_bus_wait(bus, helper_wait_us) < 0 && errno != EINTR) return false;
    }
    return true;
}

// --- services ---------------------------------------------------------------------------

struct Service {
    sd_bus* bus;
    unsigned index;
    std::string peer_name;      // the next service of the ring, which this one calls
    std::string peer_path;
    SharedProgress& progress;   // slot `index`: replies received
    std::uint64_t to_issue = 0;
    std::uint64_t outstanding = 0;
    std::uint64_t next_key = 0;
    std::uint64_t next_signal = 0;
};

Service* the_service = nullptr;  // one per service process; reply callbacks carry the key instead

int on_query(sd_bus_message* m, void*, sd_bus_error*) {
    if (!sd_bus_message_is_method_call(m, mix_interface, query_method)) return 0;
    const char* key = nullptr;
    if (sd_bus_message_read(m, "s", &key) < 0)
        return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_INVALID_ARGS, "Query wants s");
    return sd_bus_reply_method_return(m, "s", fmt::format("value:{}", key).c_str());
}

void emit_changed(Service& s) {
    const std::string path = service_path(s.index);
    for (unsigned k = 0; k < signals_per_call; ++k, ++s.next_signal) {
        sd_bus_message* raw = nullptr;
        if (sd_bus_message_new_signal(s.bus, &raw, path.c_str(), mix_interface, changed_signal) < 0) return;
        MessagePtr m(raw);
        const std::string item = fmt::format("contact-{}", s.next_signal % items);
        if (sd_bus_message_append(raw, "st", item.c_str(), s.next_signal) < 0) return;
        sd_bus_send(s.bus, raw, nullptr);
    }
}

int on_query_reply(sd_bus_message* reply, void* userdata, sd_bus_error*);

void issue_query(Service& s) {
    if (s.to_issue == 0) return;
    const std::uint64_t key = s.next_key++;
    const int r = sd_bus_call_method_async(s.bus, nullptr, s.peer_name.c_str(), s.peer_path.c_str(), mix_interface,
                                           query_method, on_query_reply, reinterpret_cast<void*>(key), "s",
                                           fmt::format("contact-{}", key).c_str());
    check_sd(r, "sending Query");
    --s.to_issue;
    ++s.outstanding;
}

int on_query_reply(sd_bus_message* reply, void* userdata, sd_bus_error*) {
    Service& s = *the_service;
    const auto key = reinterpret_cast<std::uintptr_t>(userdata);
    const char* value = nullptr;
    const bool ok = !sd_bus_message_is_method_error(reply, nullptr) && sd_bus_message_read(reply, "s", &value) >= 0 &&
                    value == fmt::format("value:contact-{}", key);
    --s.outstanding;
    // A bad reply is recorded out of sequence: the parent reports it as a bad reply.
    s.progress.record(s.index, ok ? s.progress.slot(s.index).seen.load() : UINT64_MAX);
    emit_changed(s);
    issue_query(s);
    return 0;
}

int service_main(const Options& opt, unsigned index, const std::vector<std::string>& names,
                 SharedProgress& progress, SharedProgress& gate) {
    try {
        BusPtr bus = connect_to_bus(opt.address);
        check_sd(sd_bus_request_name(bus.get(), names[index].c_str(), 0), "RequestName");
        check_sd(sd_bus_add_object(bus.get(), nullptr, service_path(index).c_str(), on_query, nullptr),
                 "sd_bus_add_object");
        const unsigned peer = (index + 1) % service_count;
        Service s{bus.get(), index, names[peer], service_path(peer), progress};
        the_service = &s;
        progress.set_state(index, SlotState::ready);
        for (std::uint64_t phase = 1; phase <= 2; ++phase) {
            if (!serve_until(bus.get(), [&] { return gate.min_seen() >= phase; })) break;
            s.to_issue = phase == 1 ? opt.warmup : opt.count;
            for (unsigned i = 0; i < opt.inflight; ++i) issue_query(s);
            if (!serve_until(bus.get(), [&] { return s.to_issue == 0 && s.outstanding == 0; })) break;
        }
        serve_until(bus.get(), [] { return false; });  // the neighbour may still be calling
    } catch (const std::exception& e) {
        fmt::print(stderr, "jetbus-bench desktop service {}: {}\n", service_roles[index], e.what());
        progress.set_state(index, SlotState::failed);
        return 1;
    }
    progress.set_state(index, SlotState::gone);
    return 0;
}

// --- widgets ----------------------------------------------------------------------------

struct Widget {
    SharedProgress& progress;
    unsigned slot;
    std::array<std::uint64_t, service_count> next_sequence{};
};

int on_changed(sd_bus_message* m, void* userdata, sd_bus_error*) {
    if (!sd_bus_message_is_signal(m, mix_interface, changed_signal)) return 0;
    auto& w = *static_cast<Widget*>(userdata);
    const char* path = sd_bus_message_get_path(m);
    unsigned source = service_count;
    for (unsigned i = 0; i < service_count && path; ++i)
        if (service_path(i) == path) source = i;
    const char* item = nullptr;
    std::uint64_t sequence = UINT64_MAX;
    sd_bus_message_read(m, "st", &item, &sequence);
    const bool in_order = source < service_count && sequence == w.next_sequence[source];
    if (source < service_count) w.next_sequence[source] = sequence + 1;
    w.progress.record(w.slot, in_order ? w.progress.slot(w.slot).seen.load() : UINT64_MAX);
    return 1;
}

int widget_main(const Options& opt, unsigned widget, const std::vector<std::string>& names,
                SharedProgress& progress) {
    const unsigned slot = service_count + widget;
    try {
        BusPtr bus = connect_to_bus(opt.address);
        Widget w{progress, slot};
        check_sd(sd_bus_add_filter(bus.get(), nullptr, on_changed, &w), "sd_bus_add_filter");
        add_matches(bus.get(), idle_rules(widget));
        std::vector<std::string> rules;
        for (unsigned k = 0; k < sources_per_widget; ++k) rules.push_back(widget_rule(names[(widget + k) % service_count]));
        add_matches(bus.get(), rules);
        progress.set_state(slot, SlotState::ready);
        serve_until(bus.get(), [] { return false; });
    } catch (const std::exception& e) {
        fmt::print(stderr, "jetbus-bench desktop widget {}: {}\n", widget, e.what());
        progress.set_state(slot, SlotState::failed);
        return 1;
    }
    progress.set_state(slot, SlotState::gone);
    return 0;
}

// --- the parent -------------------------------------------------------------------------

void wait_ready(SharedProgress& p, unsigned count) {
    const auto deadline = Clock::now() + ready_timeout;
    while (p.count_in(SlotState::ready) < count) {
        if (p.any_down()) throw std::runtime_error("a desktop service or widget failed to start (see above)");
        if (Clock::now() > deadline) throw std::runtime_error("the desktop mix did not become ready within 60 s");
        usleep(parent_poll_us);
    }
}

// Signals widget w must have received once every service has had `calls` replies.
std::uint64_t expected_signals(std::uint64_t calls) { return calls * signals_per_call * sources_per_widget; }

bool phase_done(const SharedProgress& p, std::uint64_t calls) {
    for (unsigned i = 0; i < p.size(); ++i)
        if (p.slot(i).seen.load() < (i < service_count ? calls : expected_signals(calls))) return false;
    return true;
}

// Waits until every service has `calls` replies and every widget its signals.
void wait_phase(SharedProgress& p, std::uint64_t calls, double max_seconds, DesktopResult& r) {
    const auto cap = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(max_seconds));
    std::uint64_t last_total = p.total_seen();
    auto last_move = Clock::now();
    while (!phase_done(p, calls)) {
        if (p.any_down()) return;
        if (const std::uint64_t total = p.total_seen(); total != last_total) {
            last_total = total;
            last_move = Clock::now();
        } else if (Clock::now() - last_move > stall_timeout) {
            r.stalled = true;
            return;
        }
        if (Clock::now() > cap) {
            r.capped = true;
            return;
        }
        usleep(parent_poll_us);
    }
}

std::uint64_t sum_seen(const SharedProgress& p, unsigned from, unsigned to) {
    std::uint64_t t = 0;
    for (unsigned i = from; i < to; ++i) t += p.slot(i).seen.load();
    return t;
}

void account(const SharedProgress& p, std::uint64_t calls, DesktopResult& r) {
    for (unsigned i = 0; i < p.size(); ++i) {
        const SubscriberSlot& s = p.slot(i);
        if (i < service_count) {
            r.bad_replies += s.out_of_order.load();
            continue;
        }
        r.out_of_order += s.out_of_order.load();
        if (!r.capped) r.lost += expected_signals(calls) - std::min(expected_signals(calls), s.seen.load());
    }
    r.peers_down = p.count_in(SlotState::failed) + p.count_in(SlotState::gone);
}

}  // namespace

DesktopResult run_desktop(const Options& opt) {
    std::vector<std::string> names;
    for (const char* role : service_roles) names.push_back(fmt::format("org.jetbus.Bench.Mix.p{}.{}", getpid(), role));
    const unsigned widgets = opt.subscribers;
    const unsigned slots = service_count + widgets;
    SharedProgress progress(slots);
    SharedProgress gate(1);
    ChildGroup children;
    for (unsigned i = 0; i < service_count; ++i)
        children.spawn([&, i] { return service_main(opt, i, names, progress, gate); });
    wait_ready(progress, service_count);
    for (unsigned w = 0; w < widgets; ++w) {
        children.spawn([&, w] { return widget_main(opt, w, names, progress); });
        if ((w + 1) % connect_batch == 0 || w + 1 == widgets) wait_ready(progress, service_count + w + 1);
    }
    DesktopResult r;
    gate.record(0, 0);  // gate at 1: the warm-up
    wait_phase(progress, opt.warmup, opt.max_seconds, r);
    if (r.capped || r.stalled || progress.any_down() || !phase_done(progress, opt.warmup)) {
        r.warmup_failed = true;
        account(progress, opt.warmup, r);
        return r;
    }
    const std::uint64_t calls_before = sum_seen(progress, 0, service_count);
    const std::uint64_t delivered_before = sum_seen(progress, service_count, slots);
    const auto start = Clock::now();
    gate.record(0, 1);  // gate at 2: the measured phase
    wait_phase(progress, opt.warmup + opt.count, opt.max_seconds, r);
    r.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    r.calls = sum_seen(progress, 0, service_count) - calls_before;
    r.signals = r.calls * signals_per_call;
    r.delivered = sum_seen(progress, service_count, slots) - delivered_before;
    account(progress, opt.warmup + opt.count, r);
    return r;
}

}  // namespace jetbus::bench
