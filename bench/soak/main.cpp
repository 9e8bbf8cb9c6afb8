// jetbus-soak: a mixed load with random client crashes against one bus address, and the
// accounting of every message in it: each call a surviving caller made must end as a reply or
// an error, each signal a surviving subscriber was owed must arrive. bench/soak/soak starts a
// broker, runs this and watches the broker's memory and fds. See bench/soak/README.md.
#include "board.h"
#include "roles.h"
#include "summary.h"
#include "supervisor.h"

#include <fmt/core.h>
#include <getopt.h>
#include <signal.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>

namespace jetbus::soak {
namespace {

// Exit codes: 0 nothing lost and nothing wrong, 1 a problem (listed), 2 set-up failed.
constexpr int exit_problems = 1;
constexpr int exit_setup = 2;

// Records beyond the first instances: restarts after kills and deaths, with room to spare.
constexpr unsigned spare_records = 1024;

constexpr const char* usage_text =
    "usage: jetbus-soak --address ADDR [options]\n"
    "  --address ADDR       the bus (e.g. unix:path=/tmp/bus)\n"
    "  --seconds S          how long the load runs (default 60)\n"
    "  --services N         echo services, each owning org.jetbus.Soak.Service<i> (default 4)\n"
    "  --callers N          callers keeping calls in flight to them (default 4)\n"
    "  --inflight K         calls in flight per caller (default 16)\n"
    "  --call-rate R        calls/s per caller; 0: as fast as the window allows (default 0)\n"
    "  --emitters N         Tick emitters (default 2)\n"
    "  --signal-rate R      Ticks/s per emitter (default 500)\n"
    "  --subscribers N      subscribers holding match rules (default 4)\n"
    "  --noise-rules K      rules per subscriber that never match (default 20)\n"
    "  --name-churners N    RequestName/ReleaseName loops (default 1)\n"
    "  --name-rate R        name calls/s per name churner (default 200)\n"
    "  --conn-churners N    connection churn loops (default 1)\n"
    "  --conn-rate R        connections/s per connection churner (default 40)\n"
    "  --kill-every S       seconds between kill rounds; 0: no kills (default 2)\n"
    "  --kills N            clients SIGKILLed per round, each restarted at once (default 2)\n"
    "  --drain S            seconds the stop phase may take; then what is owed is lost (default 10)\n"
    "  --seed N             random seed (default: from the clock; printed)\n"
    "  --json FILE          also write the summary object to FILE\n"
    "  --quiet              no progress lines\n"
    "Output: one JSON progress line a second and a JSON summary line on stdout, the summary in\n"
    "words on stderr. Exit status 0 clean, 1 something lost or wrong, 2 set-up failed.\n";

struct Options {
    Settings settings;
    std::string json_path;
    bool quiet = false;
};

double parse_number(const char* name, const char* text, double min) {
    std::size_t used = 0;
    double v = 0;
    try {
        v = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || text[used] != '\0' || !std::isfinite(v) || v < min)
        throw std::invalid_argument(fmt::format("--{}: '{}' is not a number >= {}", name, text, min));
    return v;
}

unsigned parse_count(const char* name, const char* text, unsigned min) {
    const double v = parse_number(name, text, min);
    if (v != std::floor(v) || v > 100000) throw std::invalid_argument(fmt::format("--{}: '{}' is not a count", name, text));
    return static_cast<unsigned>(v);
}

std::uint64_t parse_seed(const char* text) {
    std::size_t used = 0;
    std::uint64_t v = 0;
    try {
        v = std::stoull(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || text[used] != '\0' || text[0] == '-')
        throw std::invalid_argument(fmt::format("--seed: '{}' is not a whole number", text));
    return v;
}

bool parse(int argc, char** argv, Options& o) {
    enum { address = 256, seconds, services, callers, inflight, call_rate, emitters, signal_rate, subscribers,
           noise_rules, name_churners, name_rate, conn_churners, conn_rate, kill_every, kills, drain, seed, json,
           quiet, help };
    static const option longopts[] = {
        {"address", required_argument, nullptr, address}, {"seconds", required_argument, nullptr, seconds},
        {"services", required_argument, nullptr, services}, {"callers", required_argument, nullptr, callers},
        {"inflight", required_argument, nullptr, inflight}, {"call-rate", required_argument, nullptr, call_rate},
        {"emitters", required_argument, nullptr, emitters}, {"signal-rate", required_argument, nullptr, signal_rate},
        {"subscribers", required_argument, nullptr, subscribers},
        {"noise-rules", required_argument, nullptr, noise_rules},
        {"name-churners", required_argument, nullptr, name_churners},
        {"name-rate", required_argument, nullptr, name_rate},
        {"conn-churners", required_argument, nullptr, conn_churners},
        {"conn-rate", required_argument, nullptr, conn_rate}, {"kill-every", required_argument, nullptr, kill_every},
        {"kills", required_argument, nullptr, kills}, {"drain", required_argument, nullptr, drain},
        {"seed", required_argument, nullptr, seed}, {"json", required_argument, nullptr, json},
        {"quiet", no_argument, nullptr, quiet}, {"help", no_argument, nullptr, help}, {nullptr, 0, nullptr, 0}};
    Settings& s = o.settings;
    s.seed = std::random_device{}();
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, nullptr)) != -1) {
        const char* a = optarg;
        switch (c) {
            case address: s.address = a; break;
            case seconds: s.seconds = parse_number("seconds", a, 0.1); break;
            case services: s.services = parse_count("services", a, 1); break;
            case callers: s.callers = parse_count("callers", a, 0); break;
            case inflight: s.inflight = parse_count("inflight", a, 1); break;
            case call_rate: s.call_rate = parse_number("call-rate", a, 0); break;
            case emitters: s.emitters = parse_count("emitters", a, 0); break;
            case signal_rate: s.signal_rate = parse_number("signal-rate", a, 1); break;
            case subscribers: s.subscribers = parse_count("subscribers", a, 0); break;
            case noise_rules: s.noise_rules = parse_count("noise-rules", a, 0); break;
            case name_churners: s.name_churners = parse_count("name-churners", a, 0); break;
            case name_rate: s.name_rate = parse_number("name-rate", a, 1); break;
            case conn_churners: s.conn_churners = parse_count("conn-churners", a, 0); break;
            case conn_rate: s.conn_rate = parse_number("conn-rate", a, 0.1); break;
            case kill_every: s.kill_every = parse_number("kill-every", a, 0); break;
            case kills: s.kills = parse_count("kills", a, 0); break;
            case drain: s.drain = parse_number("drain", a, 0.1); break;
            case seed: s.seed = parse_seed(a); break;
            case json: o.json_path = a; break;
            case quiet: o.quiet = true; break;
            case help: std::fputs(usage_text, stdout); return false;
            default: throw std::invalid_argument(std::string("bad option; see --help"));
        }
    }
    if (optind < argc) throw std::invalid_argument(fmt::format("unexpected argument '{}'", argv[optind]));
    if (s.address.empty()) throw std::invalid_argument("--address is required (see --help)");
    return true;
}

unsigned board_capacity(const Settings& s) {
    unsigned first = 0;
    for (std::size_t r = 0; r < role_count; ++r) first += s.count_of(static_cast<Role>(r));
    const double rounds = s.kill_every > 0 ? std::ceil(s.seconds / s.kill_every) : 0;
    return first + static_cast<unsigned>(rounds) * s.kills + spare_records;
}

int run(const Options& o) {
    const Settings& s = o.settings;
    Board board(board_capacity(s));
    Supervisor sup(s, board);
    std::string why;
    if (!sup.start_all(why)) {
        fmt::print(stderr, "jetbus-soak: {}\n", why);
        return exit_setup;
    }
    fmt::print(stderr, "jetbus-soak: {} clients running on {}; seed {}\n", board.count(), s.address, s.seed);
    const double load_s = sup.run([&](double elapsed) {
        if (o.quiet) return;
        fmt::print("{}\n", progress_json(live_totals(board), elapsed));
        std::fflush(stdout);
    });
    const double drain_s = sup.drain();
    sup.finish();
    const Totals t = final_totals(board, sup.kills(), sup.deaths());
    auto probs = problems(t);
    if (!sup.ended_early().empty()) probs.insert(probs.begin(), "the load ended early: " + sup.ended_early());
    const std::string json = summary_json(t, s, load_s, drain_s, probs);
    fmt::print("{}\n", json);
    std::fflush(stdout);
    if (!o.json_path.empty()) std::ofstream(o.json_path) << json << "\n";
    fmt::print(stderr, "{}", summary_text(t, load_s, drain_s, probs));
    return probs.empty() ? 0 : exit_problems;
}

}  // namespace
}  // namespace jetbus::soak

int main(int argc, char** argv) {
    // A client killed mid-write must not take the supervisor's siblings down with SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
    jetbus::soak::Options o;
    try {
        if (!jetbus::soak::parse(argc, argv, o)) return 0;
        return jetbus::soak::run(o);
    } catch (const std::exception& e) {
        fmt::print(stderr, "jetbus-soak: {}\n", e.what());
        return jetbus::soak::exit_setup;
    }
}
