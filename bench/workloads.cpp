// ping-pong and pipelined workloads over sd-bus. Nothing here throws once the loop runs:
// a failed call is counted in Result::errors so the report shows it.
#include "workloads.h"

#include <chrono>
#include <cstring>

namespace jetbus::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Per-call reply timeout. A healthy bus answers in microseconds; five seconds only
// bounds a stuck one, and the wall-clock cap bounds the whole loop.
constexpr std::uint64_t call_timeout_us = 5'000'000;

int make_call(sd_bus* bus, const Target& t, const std::vector<std::uint8_t>& payload, MessagePtr& out) {
    sd_bus_message* m = nullptr;
    const char* dest = t.destination.empty() ? nullptr : t.destination.c_str();
    int r = sd_bus_message_new_method_call(bus, &m, dest, Target::path, Target::interface, Target::method);
    if (r < 0) return r;
    out.reset(m);
    return sd_bus_message_append_array(m, 'y', payload.data(), payload.size());
}

// True when the reply is a method return carrying exactly the payload we sent.
bool reply_matches(sd_bus_message* reply, const std::vector<std::uint8_t>& payload) {
    if (sd_bus_message_is_method_error(reply, nullptr)) return false;
    const void* data = nullptr;
    std::size_t size = 0;
    if (sd_bus_message_read_array(reply, 'y', &data, &size) < 0 || size != payload.size()) return false;
    return size == 0 || std::memcmp(data, payload.data(), size) == 0;
}

std::vector<std::uint8_t> make_payload(std::size_t size) {
    std::vector<std::uint8_t> p(size);
    for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<std::uint8_t>(i * 31 + 7);
    return p;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Returns the round trip in µs, or a negative value when the call failed.
double one_round_trip(sd_bus* bus, const Target& t, const std::vector<std::uint8_t>& payload) {
    MessagePtr call;
    if (make_call(bus, t, payload, call) < 0) return -1;
    sd_bus_message* reply = nullptr;
    sd_bus_error err = SD_BUS_ERROR_NULL;
    const auto t0 = Clock::now();
    const int r = sd_bus_call(bus, call.get(), call_timeout_us, &err, &reply);
    const auto t1 = Clock::now();
    const bool ok = r >= 0 && reply_matches(reply, payload);
    sd_bus_message_unref(reply);
    sd_bus_error_free(&err);
    return ok ? std::chrono::duration<double, std::micro>(t1 - t0).count() : -1;
}

Result ping_pong_loop(sd_bus* bus, const Target& t, const Options& opt, std::uint64_t count) {
    const auto payload = make_payload(opt.size);
    Result res;
    res.rtt_us.reserve(count);
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < count; ++i) {
        if (seconds_since(start) > opt.max_seconds) {
            res.capped = true;
            break;
        }
        const double us = one_round_trip(bus, t, payload);
        ++res.completed;
        if (us >= 0) {
            res.rtt_us.push_back(us);
        } else if (++res.errors; sd_bus_is_open(bus) <= 0) {
            break;  // the connection is gone: every further call would fail the same way
        }
    }
    res.elapsed_s = seconds_since(start);
    return res;
}

// State shared by the reply callbacks of one pipelined run.
struct Pipeline {
    sd_bus* bus;
    const Target* target;
    std::vector<std::uint8_t> payload;
    std::uint64_t target_count;
    std::uint64_t issued = 0;
    std::uint64_t completed = 0;
    std::uint64_t errors = 0;
    bool stop_issuing = false;  // set by the wall-clock cap or a send failure
};

int on_reply(sd_bus_message* reply, void* userdata, sd_bus_error*);

void issue_next(Pipeline& p) {
    if (p.stop_issuing || p.issued >= p.target_count) return;
    MessagePtr call;
    if (make_call(p.bus, *p.target, p.payload, call) < 0 ||
        sd_bus_call_async(p.bus, nullptr, call.get(), on_reply, &p, call_timeout_us) < 0) {
        p.stop_issuing = true;  // nothing in flight for this one: count it failed
        ++p.errors;
        return;
    }
    ++p.issued;
}

int on_reply(sd_bus_message* reply, void* userdata, sd_bus_error*) {
    auto& p = *static_cast<Pipeline*>(userdata);
    ++p.completed;
    if (!reply_matches(reply, p.payload)) ++p.errors;
    issue_next(p);
    return 0;
}

Result pipelined_loop(sd_bus* bus, const Target& t, const Options& opt, std::uint64_t count) {
    Pipeline p{bus, &t, make_payload(opt.size), count};
    Result res;
    const auto start = Clock::now();
    for (unsigned i = 0; i < opt.inflight; ++i) issue_next(p);
    while (p.completed < p.issued) {
        if (!p.stop_issuing && seconds_since(start) > opt.max_seconds) {
            p.stop_issuing = true;
            res.capped = true;
        }
        const int r = sd_bus_process(bus, nullptr);
        if (r < 0) break;  // connection lost: the missing replies show as errors below
        if (r == 0) sd_bus_wait(bus, 100'000);
    }
    res.elapsed_s = seconds_since(start);
    res.completed = p.completed;
    res.errors = p.errors + (p.issued - p.completed);
    return res;
}

// A failed warm-up is returned as the result (completed 0, errors > 0) instead of
// measuring a bus that already misbehaves or a connection that is gone.
Result failed_warmup(const Result& warm) {
    Result r;
    r.errors = warm.errors;
    r.warmup_failed = true;
    return r;
}

}  // namespace

Result run_ping_pong(sd_bus* bus, const Target& target, const Options& opt) {
    const Result warm = ping_pong_loop(bus, target, opt, opt.warmup);
    if (warm.errors > 0) return failed_warmup(warm);
    return ping_pong_loop(bus, target, opt, opt.count);
}

Result run_pipelined(sd_bus* bus, const Target& target, const Options& opt) {
    const Result warm = pipelined_loop(bus, target, opt, opt.warmup);
    if (warm.errors > 0) return failed_warmup(warm);
    return pipelined_loop(bus, target, opt, opt.count);
}

}  // namespace jetbus::bench
