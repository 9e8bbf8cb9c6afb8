// Fuzz target for the SASL server (src/broker/sasl.h): arbitrary client input, cut into lines at
// "\r\n" by cut_sasl_line as the connection does, fed to SaslServer::feed one line at a time.
// The first input byte chooses the server's options, so one corpus covers every configuration:
//   bit 0 EXTERNAL allowed, bit 1 ANONYMOUS allowed, bit 2 fd passing possible, bit 3 peer is root
//   (uid 0) rather than uid 1000.
// Checks what a client could observe: replies are whole "\r\n" lines, a finished exchange says
// nothing more, and an authenticated peer got there by a mechanism the options allow.
#include <cstdint>
#include <string>
#include <string_view>

#include "broker/sasl.h"
#include "fuzz_check.h"

namespace {

using namespace jetbus::broker;

constexpr std::string_view guid = "0123456789abcdef0123456789abcdef";

SaslOptions options_from(uint8_t bits) {
    SaslOptions o{};
    o.allow_external = bits & 1;
    o.allow_anonymous = bits & 2;
    o.unix_fd_capable = bits & 4;
    o.peer_uid = bits & 8 ? 0 : 1000;
    o.guid = guid;
    return o;
}

bool finished(SaslState s) { return s == SaslState::authenticated || s == SaslState::failed; }

void check_reply(std::string_view out) {
    if (out.empty()) return;
    FUZZ_CHECK(out.size() >= 2 && out.substr(out.size() - 2) == "\r\n", "replies end in \\r\\n");
    for (char c : out)
        FUZZ_CHECK(c != '\0' && static_cast<unsigned char>(c) < 0x80, "replies are ASCII without NUL");
}

void check_authenticated(const SaslServer& server, const SaslOptions& o) {
    if (server.anonymous()) {
        FUZZ_CHECK(o.allow_anonymous, "ANONYMOUS succeeds only when allowed");
        FUZZ_CHECK(server.uid() == sasl_no_uid, "an anonymous peer has no uid");
    } else {
        FUZZ_CHECK(o.allow_external, "EXTERNAL succeeds only when allowed");
        FUZZ_CHECK(server.uid() == o.peer_uid, "EXTERNAL authenticates the socket's uid, nobody else");
    }
    FUZZ_CHECK(!server.unix_fd_negotiated() || o.unix_fd_capable, "fds are agreed only when possible");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const SaslOptions options = options_from(data[0]);
    SaslServer server(options);
    std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    std::string out;
    for (;;) {
        const SaslLine line = cut_sasl_line(input);
        if (line.status != SaslLine::Status::line) break;
        FUZZ_CHECK(line.consumed == line.line.size() + 2 && line.consumed <= input.size(), "line framing");
        input.remove_prefix(line.consumed);
        const SaslState before = server.state();
        out.clear();
        const SaslState after = server.feed(line.line, out);
        FUZZ_CHECK(after == server.state(), "feed returns the new state");
        check_reply(out);
        if (finished(before)) FUZZ_CHECK(out.empty() && after == before, "a finished exchange stays silent");
        FUZZ_CHECK(server.rejections() <= max_sasl_rejections, "at most 6 REJECTED");
        if (after == SaslState::waiting_for_begin)
            FUZZ_CHECK(out == "OK " + std::string(guid) + "\r\n" || out.empty() ||
                           out.rfind("ERROR", 0) == 0 || out == "AGREE_UNIX_FD\r\n",
                       "waiting for BEGIN follows OK");
        if (after == SaslState::authenticated) check_authenticated(server, options);
    }
    return 0;
}
