// ping-pong and the pipelined call loops (Echo, Consume, TakeFd) over sd-bus. Nothing here
// throws once the loop runs: a failed call is counted in Result::errors so the report shows it.
#include "workloads.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

namespace jetbus::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Per-call reply timeout. A healthy bus answers in microseconds (a 64 MiB call in well
// under a second); this only bounds a stuck one, and the wall-clock cap bounds the loop.
constexpr std::uint64_t call_timeout_us = 5'000'000;

// Which method a loop calls, with what, and what the right answer is.
enum class CallShape { echo, consume, take_fd };

struct CallSpec {
    CallShape shape = CallShape::echo;
    std::vector<std::uint8_t> payload;  // echo, consume
    int fd = -1;                        // take_fd: sd-bus sends a duplicate per call
    std::uint64_t fd_inode = 0;         // take_fd: what the server must answer
};

const char* method_of(CallShape s) {
    switch (s) {
        case CallShape::echo: return Target::method;
        case CallShape::consume: return Target::consume;
        case CallShape::take_fd: return Target::take_fd;
    }
    return Target::method;
}

int make_call(sd_bus* bus, const Target& t, const CallSpec& spec, MessagePtr& out) {
    sd_bus_message* m = nullptr;
    const char* dest = t.destination.empty() ? nullptr : t.destination.c_str();
    int r = sd_bus_message_new_method_call(bus, &m, dest, Target::path, Target::interface, method_of(spec.shape));
    if (r < 0) return r;
    out.reset(m);
    if (spec.shape == CallShape::take_fd) return sd_bus_message_append_basic(m, 'h', &spec.fd);
    return sd_bus_message_append_array(m, 'y', spec.payload.data(), spec.payload.size());
}

// True when an Echo reply carries exactly the payload we sent.
bool echo_matches(sd_bus_message* reply, const std::vector<std::uint8_t>& payload) {
    const void* data = nullptr;
    std::size_t size = 0;
    if (sd_bus_message_read_array(reply, 'y', &data, &size) < 0 || size != payload.size()) return false;
    return size == 0 || std::memcmp(data, payload.data(), size) == 0;
}

bool reply_matches(sd_bus_message* reply, const CallSpec& spec) {
    if (sd_bus_message_is_method_error(reply, nullptr)) return false;
    if (spec.shape == CallShape::echo) return echo_matches(reply, spec.payload);
    std::uint64_t answer = 0;
    if (sd_bus_message_read(reply, "t", &answer) < 0) return false;
    return answer == (spec.shape == CallShape::consume ? spec.payload.size() : spec.fd_inode);
}

std::vector<std::uint8_t> make_payload(std::size_t size) {
    std::vector<std::uint8_t> p(size);
    for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<std::uint8_t>(i * 31 + 7);
    return p;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Returns the round trip in µs, or a negative value when the call failed.
double one_round_trip(sd_bus* bus, const Target& t, const CallSpec& spec) {
    MessagePtr call;
    if (make_call(bus, t, spec, call) < 0) return -1;
    sd_bus_message* reply = nullptr;
    sd_bus_error err = SD_BUS_ERROR_NULL;
    const auto t0 = Clock::now();
    const int r = sd_bus_call(bus, call.get(), call_timeout_us, &err, &reply);
    const auto t1 = Clock::now();
    const bool ok = r >= 0 && reply_matches(reply, spec);
    sd_bus_message_unref(reply);
    sd_bus_error_free(&err);
    return ok ? std::chrono::duration<double, std::micro>(t1 - t0).count() : -1;
}

Result ping_pong_loop(sd_bus* bus, const Target& t, const Options& opt, std::uint64_t count) {
    CallSpec spec{CallShape::echo, make_payload(opt.size)};
    Result res;
    res.rtt_us.reserve(count);
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < count; ++i) {
        if (seconds_since(start) > opt.max_seconds) {
            res.capped = true;
            break;
        }
        const double us = one_round_trip(bus, t, spec);
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
    const CallSpec* spec;
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
    if (make_call(p.bus, *p.target, *p.spec, call) < 0 ||
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
    if (!reply_matches(reply, *p.spec)) ++p.errors;
    issue_next(p);
    return 0;
}

Result pipelined_loop(sd_bus* bus, const Target& t, const CallSpec& spec, const Options& opt, std::uint64_t count) {
    Pipeline p{bus, &t, &spec, count};
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

Result warm_then_measure(sd_bus* bus, const Target& t, const CallSpec& spec, const Options& opt) {
    const Result warm = pipelined_loop(bus, t, spec, opt, opt.warmup);
    if (warm.errors > 0) return failed_warmup(warm);
    return pipelined_loop(bus, t, spec, opt, opt.count);
}

// Closes the fd when the fd-passing run ends.
struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
};

}  // namespace

Result run_ping_pong(sd_bus* bus, const Target& target, const Options& opt) {
    const Result warm = ping_pong_loop(bus, target, opt, opt.warmup);
    if (warm.errors > 0) return failed_warmup(warm);
    return ping_pong_loop(bus, target, opt, opt.count);
}

Result run_pipelined(sd_bus* bus, const Target& target, const Options& opt) {
    return warm_then_measure(bus, target, CallSpec{CallShape::echo, make_payload(opt.size)}, opt);
}

Result run_large(sd_bus* bus, const Target& target, const Options& opt) {
    return warm_then_measure(bus, target, CallSpec{CallShape::consume, make_payload(opt.size)}, opt);
}

Result run_fd_passing(sd_bus* bus, const Target& target, const Options& opt) {
    const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || fstat(fd, &st) < 0) throw std::runtime_error("cannot open /dev/null to pass");
    FdCloser closer{fd};
    return warm_then_measure(bus, target, CallSpec{CallShape::take_fd, {}, fd, st.st_ino}, opt);
}

}  // namespace jetbus::bench
