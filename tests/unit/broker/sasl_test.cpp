// The SASL server as a client sees it: the exact reply lines dbus-daemon 1.14 sends for the same
// input (recorded against /usr/bin/dbus-daemon), and when the connection ends.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "broker/sasl.h"

using jetbus::broker::cut_sasl_line;
using jetbus::broker::max_sasl_buffer;
using jetbus::broker::max_sasl_line_length;
using jetbus::broker::max_sasl_rejections;
using jetbus::broker::sasl_no_uid;
using jetbus::broker::SaslLine;
using jetbus::broker::SaslOptions;
using jetbus::broker::SaslServer;
using jetbus::broker::SaslState;
using namespace std::string_literals;

namespace {

constexpr std::string_view guid = "0123456789abcdef0123456789abcdef";
const std::string ok_line = "OK 0123456789abcdef0123456789abcdef\r\n";
constexpr uid_t peer = 1000;
constexpr std::string_view peer_hex = "31303030";   // "1000"

SaslOptions options(bool external = true, bool anonymous = false, bool fds = true) {
    return SaslOptions{
        .peer_uid = peer, .allow_external = external, .allow_anonymous = anonymous,
        .unix_fd_capable = fds, .guid = guid};
}

// Feeds one line, returns what the server answered.
std::string say(SaslServer& s, std::string_view line) {
    std::string out;
    s.feed(line, out);
    return out;
}

std::string auth_external(std::string_view hex) { return "AUTH EXTERNAL "s + std::string(hex); }

void authenticate(SaslServer& s) {
    REQUIRE(say(s, auth_external(peer_hex)) == ok_line);
}

}  // namespace

TEST_CASE("AUTH with no mechanism is rejected with the list of allowed mechanisms") {
    SaslServer external(options());
    CHECK(say(external, "AUTH") == "REJECTED EXTERNAL\r\n");
    CHECK(say(external, "AUTH ") == "REJECTED EXTERNAL\r\n");
    CHECK(external.state() == SaslState::auth);

    SaslServer both(options(true, true));
    CHECK(say(both, "AUTH") == "REJECTED EXTERNAL ANONYMOUS\r\n");

    SaslServer anonymous_only(options(false, true));
    CHECK(say(anonymous_only, "AUTH") == "REJECTED ANONYMOUS\r\n");
}

TEST_CASE("AUTH EXTERNAL with the peer's uid in hex is answered OK with the server GUID") {
    SaslServer s(options());
    std::string out;
    CHECK(s.feed("AUTH EXTERNAL 31303030", out) == SaslState::waiting_for_begin);
    CHECK(out == ok_line);
    CHECK(s.uid() == peer);
    CHECK_FALSE(s.anonymous());
    CHECK_FALSE(s.unix_fd_negotiated());
}

TEST_CASE("AUTH EXTERNAL with a uid that is not the peer's is rejected") {
    SaslServer s(options());
    CHECK(say(s, auth_external("30")) == "REJECTED EXTERNAL\r\n");         // "0": root
    CHECK(say(s, auth_external("31303031")) == "REJECTED EXTERNAL\r\n");   // "1001"
    CHECK(s.state() == SaslState::auth);
    CHECK(s.uid() == sasl_no_uid);
    CHECK(s.rejections() == 2);
}

TEST_CASE("AUTH EXTERNAL without an initial response is challenged with an empty DATA") {
    SUBCASE("an empty DATA answer takes the uid from the socket") {
        SaslServer s(options());
        CHECK(say(s, "AUTH EXTERNAL") == "DATA\r\n");
        CHECK(s.state() == SaslState::waiting_for_data);
        CHECK(say(s, "DATA") == ok_line);
        CHECK(s.uid() == peer);
    }
    SUBCASE("a DATA answer with the peer's uid is accepted") {
        SaslServer s(options());
        CHECK(say(s, "AUTH EXTERNAL") == "DATA\r\n");
        CHECK(say(s, "DATA 31303030") == ok_line);
    }
    SUBCASE("a DATA answer with another uid is rejected and ends the exchange") {
        SaslServer s(options());
        CHECK(say(s, "AUTH EXTERNAL") == "DATA\r\n");
        CHECK(say(s, "DATA 31") == "REJECTED EXTERNAL\r\n");
        CHECK(say(s, "DATA") == "ERROR \"Not currently in an auth conversation\"\r\n");
    }
}

TEST_CASE("The sd-bus and libdbus opening sequences authenticate in one go") {
    SaslServer sd_bus(options());   // "AUTH EXTERNAL\r\nDATA\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n"
    std::string out;
    for (auto line : {"AUTH EXTERNAL", "DATA", "NEGOTIATE_UNIX_FD", "BEGIN"}) sd_bus.feed(line, out);
    CHECK(out == "DATA\r\n" + ok_line + "AGREE_UNIX_FD\r\n");
    CHECK(sd_bus.state() == SaslState::authenticated);
    CHECK(sd_bus.unix_fd_negotiated());

    SaslServer libdbus(options());
    out.clear();
    for (auto line : {"AUTH EXTERNAL 31303030", "NEGOTIATE_UNIX_FD", "BEGIN"}) libdbus.feed(line, out);
    CHECK(out == ok_line + "AGREE_UNIX_FD\r\n");
    CHECK(libdbus.state() == SaslState::authenticated);
}

TEST_CASE("Bad hex in AUTH or DATA is answered with an ERROR and changes nothing") {
    SaslServer s(options());
    CHECK(say(s, auth_external("zz")) == "ERROR \"Invalid hex encoding\"\r\n");
    CHECK(say(s, auth_external("31303030 ")) == "ERROR \"Invalid hex encoding\"\r\n");   // trailing blank
    CHECK(say(s, auth_external("-30")) == "ERROR \"Invalid hex encoding\"\r\n");
    CHECK(s.state() == SaslState::auth);
    CHECK(s.rejections() == 0);

    CHECK(say(s, "AUTH EXTERNAL") == "DATA\r\n");
    CHECK(say(s, "DATA 3g") == "ERROR \"Invalid hex encoding\"\r\n");
    CHECK(s.state() == SaslState::waiting_for_data);
    CHECK(say(s, "DATA") == ok_line);
}

TEST_CASE("Hex is decoded as dbus-daemon does: either case, an odd last digit is a high half") {
    SaslServer upper(options());
    CHECK(say(upper, auth_external("3A")) == "REJECTED EXTERNAL\r\n");   // valid hex for ":", not a uid
    SaslServer odd(options());
    CHECK(say(odd, auth_external("3130303")) == ok_line);   // 31 30 30 3_ -> "1000"
}

TEST_CASE("The EXTERNAL identity is read like dbus-daemon's strtoul with base 0") {
    for (auto text : {" 1000", "+1000", "0x3e8", "01750", "1000"}) {
        SaslServer s(options());
        std::string hex;
        for (unsigned char c : std::string_view(text)) {
            static constexpr char digits[] = "0123456789abcdef";
            hex += digits[c >> 4];
            hex += digits[c & 15];
        }
        CAPTURE(text);
        CHECK(say(s, auth_external(hex)) == ok_line);
    }
    for (auto hex : {"3130303020", "726f6f74", "3130303000", "2d31303030"}) {   // "1000 ", "root", "1000\0", "-1000"
        SaslServer s(options());
        CAPTURE(hex);
        CHECK(say(s, auth_external(hex)) == "REJECTED EXTERNAL\r\n");
    }
}

TEST_CASE("ANONYMOUS is rejected unless allowed") {
    SaslServer s(options());
    CHECK(say(s, "AUTH ANONYMOUS") == "REJECTED EXTERNAL\r\n");
    CHECK(say(s, "AUTH ANONYMOUS 6869") == "REJECTED EXTERNAL\r\n");
    CHECK(s.state() == SaslState::auth);
}

TEST_CASE("ANONYMOUS when allowed is answered OK with or without a UTF-8 trace") {
    SaslServer bare(options(true, true));
    CHECK(say(bare, "AUTH ANONYMOUS") == ok_line);
    CHECK(bare.anonymous());
    CHECK(bare.uid() == sasl_no_uid);
    CHECK(say(bare, "BEGIN").empty());
    CHECK(bare.state() == SaslState::authenticated);

    SaslServer traced(options(true, true));
    CHECK(say(traced, "AUTH ANONYMOUS 6c6962646275732031") == ok_line);   // "libdbus 1"
    CHECK(traced.anonymous());
}

TEST_CASE("ANONYMOUS with a trace that is not UTF-8 or holds NUL is rejected") {
    for (auto hex : {"ff", "c0af", "eda080", "680069"}) {
        SaslServer s(options(true, true));
        CAPTURE(hex);
        CHECK(say(s, "AUTH ANONYMOUS "s + hex) == "REJECTED EXTERNAL ANONYMOUS\r\n");
        CHECK_FALSE(s.anonymous());
    }
    SaslServer bad_hex(options(true, true));
    CHECK(say(bad_hex, "AUTH ANONYMOUS zz") == "ERROR \"Invalid hex encoding\"\r\n");
}

TEST_CASE("An unknown mechanism is rejected, whatever its response") {
    SaslServer s(options());
    CHECK(say(s, "AUTH FOO") == "REJECTED EXTERNAL\r\n");
    CHECK(say(s, "AUTH FOO zz") == "REJECTED EXTERNAL\r\n");
    CHECK(say(s, "AUTH DBUS_COOKIE_SHA1 726f6f74") == "REJECTED EXTERNAL\r\n");
    CHECK(say(s, "AUTH external 31303030") == "REJECTED EXTERNAL\r\n");
}

TEST_CASE("EXTERNAL is rejected when the configuration leaves it out") {
    SaslServer s(options(false, true));
    CHECK(say(s, auth_external(peer_hex)) == "REJECTED ANONYMOUS\r\n");
}

TEST_CASE("CANCEL during an exchange is rejected, outside one it is an ERROR") {
    SaslServer s(options());
    CHECK(say(s, "CANCEL") == "ERROR \"Not currently in an auth conversation\"\r\n");
    CHECK(say(s, "DATA") == "ERROR \"Not currently in an auth conversation\"\r\n");
    CHECK(s.rejections() == 0);
    CHECK(say(s, "AUTH EXTERNAL") == "DATA\r\n");
    CHECK(say(s, "CANCEL") == "REJECTED EXTERNAL\r\n");
    CHECK(s.state() == SaslState::auth);
    // The challenge is asked again after a restart.
    CHECK(say(s, "AUTH EXTERNAL") == "DATA\r\n");
}

TEST_CASE("ERROR from the client is answered with REJECTED") {
    SaslServer s(options());
    CHECK(say(s, "ERROR") == "REJECTED EXTERNAL\r\n");
    CHECK(say(s, "ERROR \"I do not understand\"") == "REJECTED EXTERNAL\r\n");
    CHECK(say(s, "AUTH EXTERNAL") == "DATA\r\n");
    CHECK(say(s, "ERROR") == "REJECTED EXTERNAL\r\n");
    CHECK(s.state() == SaslState::auth);
}

TEST_CASE("CANCEL or ERROR after OK is rejected and the client must authenticate again") {
    SaslServer s(options());
    authenticate(s);
    CHECK(say(s, "NEGOTIATE_UNIX_FD") == "AGREE_UNIX_FD\r\n");
    CHECK(say(s, "CANCEL") == "REJECTED EXTERNAL\r\n");
    CHECK(s.state() == SaslState::auth);
    CHECK_FALSE(s.unix_fd_negotiated());
    CHECK(s.uid() == sasl_no_uid);
    authenticate(s);
    CHECK(say(s, "ERROR") == "REJECTED EXTERNAL\r\n");
    CHECK(say(s, "BEGIN").empty());
    CHECK(s.state() == SaslState::failed);
}

TEST_CASE("NEGOTIATE_UNIX_FD after OK is agreed when the transport passes fds") {
    SaslServer s(options());
    authenticate(s);
    CHECK(say(s, "NEGOTIATE_UNIX_FD") == "AGREE_UNIX_FD\r\n");
    CHECK(say(s, "NEGOTIATE_UNIX_FD") == "AGREE_UNIX_FD\r\n");   // asked twice, agreed twice
    CHECK(s.unix_fd_negotiated());
    CHECK(s.state() == SaslState::waiting_for_begin);
    CHECK(say(s, "BEGIN").empty());
    CHECK(s.unix_fd_negotiated());
}

TEST_CASE("NEGOTIATE_UNIX_FD after OK is refused with ERROR when the transport cannot pass fds") {
    SaslServer s(options(true, false, false));
    authenticate(s);
    CHECK(say(s, "NEGOTIATE_UNIX_FD") ==
          "ERROR \"Unix FD passing not supported, not authenticated or otherwise not possible\"\r\n");
    CHECK(s.state() == SaslState::waiting_for_begin);
    CHECK(say(s, "BEGIN").empty());
    CHECK(s.state() == SaslState::authenticated);
    CHECK_FALSE(s.unix_fd_negotiated());
}

TEST_CASE("NEGOTIATE_UNIX_FD before OK is an ERROR") {
    SaslServer s(options());
    CHECK(say(s, "NEGOTIATE_UNIX_FD") == "ERROR \"Need to authenticate first\"\r\n");
    CHECK(say(s, "AUTH EXTERNAL") == "DATA\r\n");
    CHECK(say(s, "NEGOTIATE_UNIX_FD") == "ERROR \"Need to authenticate first\"\r\n");
    CHECK(s.state() == SaslState::waiting_for_data);
    CHECK_FALSE(s.unix_fd_negotiated());
}

TEST_CASE("BEGIN after OK authenticates without a reply") {
    SaslServer s(options());
    authenticate(s);
    std::string out;
    CHECK(s.feed("BEGIN", out) == SaslState::authenticated);
    CHECK(out.empty());
    CHECK(s.uid() == peer);

    SaslServer with_args(options());
    authenticate(with_args);
    CHECK(say(with_args, "BEGIN now").empty());   // dbus-daemon ignores BEGIN's arguments
    CHECK(with_args.state() == SaslState::authenticated);
}

TEST_CASE("BEGIN before OK fails the connection without a reply") {
    SaslServer waiting_for_auth(options());
    std::string out;
    CHECK(waiting_for_auth.feed("BEGIN", out) == SaslState::failed);
    CHECK(out.empty());

    SaslServer waiting_for_data(options());
    CHECK(say(waiting_for_data, "AUTH EXTERNAL") == "DATA\r\n");
    CHECK(waiting_for_data.feed("BEGIN", out) == SaslState::failed);
    CHECK(out.empty());
}

TEST_CASE("An unknown command is answered ERROR \"Unknown command\" and changes nothing") {
    const std::string unknown = "ERROR \"Unknown command\"\r\n";
    SaslServer s(options());
    for (auto line : {"FOOBAR", "", " AUTH", "BEGINX", "OK 1234", "REJECTED", "AGREE_UNIX_FD",
                      "EXTENSION_COM_EXAMPLE_STUFF"}) {
        CAPTURE(line);
        CHECK(say(s, line) == unknown);
        CHECK(s.state() == SaslState::auth);
    }
    CHECK(say(s, "AUTH EXTERNAL") == "DATA\r\n");
    CHECK(say(s, "FOOBAR") == unknown);
    CHECK(s.state() == SaslState::waiting_for_data);
    CHECK(say(s, "DATA") == ok_line);
    CHECK(say(s, "FOOBAR") == unknown);
    CHECK(s.state() == SaslState::waiting_for_begin);
    CHECK(s.rejections() == 0);
}

TEST_CASE("Commands are case-sensitive") {
    SaslServer s(options());
    CHECK(say(s, "auth EXTERNAL 31303030") == "ERROR \"Unknown command\"\r\n");
    authenticate(s);
    CHECK(say(s, "Begin") == "ERROR \"Unknown command\"\r\n");
    CHECK(say(s, "negotiate_unix_fd") == "ERROR \"Unknown command\"\r\n");
    CHECK(s.state() == SaslState::waiting_for_begin);
}

TEST_CASE("A line with bytes outside ASCII or a NUL is an ERROR") {
    SaslServer s(options());
    CHECK(say(s, "AUTH \xc3\xa9") == "ERROR \"Command contained non-ASCII\"\r\n");
    CHECK(say(s, "AUTH\0"s) == "ERROR \"Command contained non-ASCII\"\r\n");
    CHECK(say(s, "BEGIN\0"s) == "ERROR \"Command contained non-ASCII\"\r\n");   // not taken as BEGIN
    CHECK(s.state() == SaslState::auth);
}

TEST_CASE("Arguments may be separated by tabs and runs of blanks") {
    SaslServer tabs(options());
    CHECK(say(tabs, "AUTH\tEXTERNAL\t31303030") == ok_line);
    SaslServer spaces(options());
    CHECK(say(spaces, "AUTH   EXTERNAL    31303030") == ok_line);
}

TEST_CASE("AUTH or DATA during another exchange or after OK is an ERROR that keeps the state") {
    SaslServer s(options());
    CHECK(say(s, "AUTH EXTERNAL") == "DATA\r\n");
    CHECK(say(s, "AUTH EXTERNAL") == "ERROR \"Sent AUTH while another AUTH in progress\"\r\n");
    CHECK(say(s, "DATA") == ok_line);
    CHECK(say(s, auth_external(peer_hex)) == "ERROR \"Sent AUTH while expecting BEGIN\"\r\n");
    CHECK(say(s, "DATA") == "ERROR \"Sent DATA while expecting BEGIN\"\r\n");
    CHECK(s.state() == SaslState::waiting_for_begin);
    CHECK(say(s, "BEGIN").empty());
    CHECK(s.state() == SaslState::authenticated);
}

TEST_CASE("The sixth rejection fails the connection after sending REJECTED") {
    static_assert(max_sasl_rejections == 6);
    SaslServer s(options());
    for (unsigned i = 1; i < max_sasl_rejections; ++i) {
        CHECK(say(s, i % 2 ? "AUTH" : "AUTH EXTERNAL 30") == "REJECTED EXTERNAL\r\n");
        CHECK(s.state() == SaslState::auth);
    }
    std::string out;
    CHECK(s.feed("ERROR", out) == SaslState::failed);
    CHECK(out == "REJECTED EXTERNAL\r\n");   // still sent; the caller closes after writing it
    CHECK(say(s, auth_external(peer_hex)).empty());
    CHECK(s.state() == SaslState::failed);
}

TEST_CASE("Five rejections still leave room to authenticate") {
    SaslServer s(options());
    for (unsigned i = 1; i < max_sasl_rejections; ++i) CHECK(say(s, "AUTH") == "REJECTED EXTERNAL\r\n");
    authenticate(s);
    CHECK(say(s, "BEGIN").empty());
    CHECK(s.state() == SaslState::authenticated);
}

TEST_CASE("A line longer than dbus-daemon accepts fails the connection without a reply") {
    static_assert(max_sasl_line_length == 16382);
    SaslServer longest(options());
    CHECK(say(longest, "FOO " + std::string(max_sasl_line_length - 4, 'A')) == "ERROR \"Unknown command\"\r\n");
    CHECK(longest.state() == SaslState::auth);

    SaslServer too_long(options());
    std::string out;
    CHECK(too_long.feed("FOO " + std::string(max_sasl_line_length - 3, 'A'), out) == SaslState::failed);
    CHECK(out.empty());
}

TEST_CASE("Lines after BEGIN are not the SASL server's business") {
    SaslServer s(options());
    authenticate(s);
    CHECK(say(s, "BEGIN").empty());
    CHECK(say(s, "AUTH").empty());
    CHECK(say(s, "FOOBAR").empty());
    CHECK(s.state() == SaslState::authenticated);
}

TEST_CASE("BEGIN pipelined after NEGOTIATE_UNIX_FD in one buffer authenticates line by line") {
    const std::string message_start = "l\x01\x00\x01\x00\x00\x00\x00"s;   // the first message follows BEGIN
    std::string buffer = "AUTH EXTERNAL 31303030\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n" + message_start;
    SaslServer s(options());
    std::string out;
    std::string_view rest = buffer;
    while (s.state() != SaslState::authenticated) {
        const SaslLine cut = cut_sasl_line(rest);
        REQUIRE(cut.status == SaslLine::Status::line);
        s.feed(cut.line, out);
        rest.remove_prefix(cut.consumed);
    }
    CHECK(out == ok_line + "AGREE_UNIX_FD\r\n");
    CHECK(s.unix_fd_negotiated());
    CHECK(rest == message_start);
}

TEST_CASE("cut_sasl_line waits for \\r\\n up to 16 KiB, like dbus-daemon") {
    CHECK(cut_sasl_line("").status == SaslLine::Status::need_more);
    CHECK(cut_sasl_line("AUTH").status == SaslLine::Status::need_more);
    CHECK(cut_sasl_line("AUTH\r").status == SaslLine::Status::need_more);
    CHECK(cut_sasl_line("AUTH\n").status == SaslLine::Status::need_more);   // a bare LF ends nothing

    const SaslLine empty = cut_sasl_line("\r\nAUTH");
    CHECK(empty.status == SaslLine::Status::line);
    CHECK(empty.line.empty());
    CHECK(empty.consumed == 2);

    const SaslLine bare_cr = cut_sasl_line("AU\rTH\r\n");
    CHECK(bare_cr.line == "AU\rTH");
    CHECK(bare_cr.consumed == 7);

    CHECK(cut_sasl_line(std::string(max_sasl_buffer, 'A')).status == SaslLine::Status::need_more);
    CHECK(cut_sasl_line(std::string(max_sasl_buffer + 1, 'A')).status == SaslLine::Status::too_long);
    CHECK(cut_sasl_line(std::string(max_sasl_line_length, 'A') + "\r\n").status == SaslLine::Status::line);
    CHECK(cut_sasl_line(std::string(max_sasl_line_length + 1, 'A') + "\r\n").status ==
          SaslLine::Status::too_long);
}
