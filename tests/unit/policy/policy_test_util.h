// Helpers for the policy tests: write a busconfig with the given <policy> elements, load it with
// the real config parser, compile it, and describe messages and peers briefly.
#pragma once

#include "config/bus_config.h"
#include "policy/compiled_policy.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace jetbus::policy::test {

// Loads `policies` (XML inside <busconfig>) from a temporary file; the bus runs as `bus_uid`.
// `config_path`, when given, receives the file name (for origins) before the file is removed.
inline CompiledPolicy load(const std::string& policies, uid_t bus_uid = 0, std::string* config_path = nullptr) {
    char templ[] = "/tmp/jetbus-policy-test-XXXXXX";
    int fd = ::mkstemp(templ);
    REQUIRE(fd >= 0);
    ::close(fd);
    std::ofstream(templ) << "<busconfig>\n<listen>unix:tmpdir=/tmp</listen>\n" << policies << "\n</busconfig>\n";
    config::BusConfig config = config::load_bus_config(templ);
    ::unlink(templ);
    if (config_path) *config_path = templ;
    return CompiledPolicy::compile(config, bus_uid);
}

// Rules in the default context.
inline CompiledPolicy load_default(const std::string& rules) {
    return load("<policy context=\"default\">\n" + rules + "\n</policy>");
}

inline constexpr uid_t root_uid = 0;
inline constexpr uid_t nobody_uid = 65534;
inline constexpr gid_t nogroup_gid = 65534;
inline constexpr uid_t daemon_uid = 1;  // Debian's "daemon" user, group "daemon" (1)

inline Subject user(uid_t uid, std::vector<gid_t> groups = {}, bool at_console = false) {
    return Subject{uid, std::move(groups), at_console};
}

inline MessageFacts method_call(std::string_view destination, std::string_view interface, std::string_view member,
                                std::string_view path = "/org/example") {
    MessageFacts m;
    m.type = wire::MessageType::method_call;
    m.destination = destination;
    m.interface = interface;
    m.member = member;
    m.path = path;
    return m;
}

inline MessageFacts signal(std::string_view interface, std::string_view member, std::string_view destination = {}) {
    MessageFacts m = method_call(destination, interface, member);
    m.type = wire::MessageType::signal;
    return m;
}

inline MessageFacts method_return(bool requested, std::string_view destination = ":1.1") {
    MessageFacts m;
    m.type = wire::MessageType::method_return;
    m.destination = destination;
    m.reply_serial = 7;
    m.requested_reply = requested;
    return m;
}

inline MessageFacts error_reply(std::string_view name, bool requested, std::string_view destination = ":1.1") {
    MessageFacts m = method_return(requested, destination);
    m.type = wire::MessageType::error;
    m.error_name = name;
    return m;
}

// The names of a peer: its unique name and the well-known names it owns or queues for.
using Names = std::vector<std::string_view>;

}  // namespace jetbus::policy::test
