// Server side of the D-Bus authentication protocol: see sasl.h. Each reply and each error text
// below is what dbus-daemon 1.14 sends in the same state (dbus-auth.c), checked on the wire.
#include "broker/sasl.h"

#include <cerrno>
#include <cstdlib>
#include <optional>

#include "wire/names.h"

namespace jetbus::broker {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// The protocol is ASCII; dbus-daemon also refuses NUL inside a line (_dbus_string_validate_ascii).
bool is_ascii(std::string_view s) {
    for (char c : s) {
        const auto b = static_cast<unsigned char>(c);
        if (b == 0 || b > 0x7f) return false;
    }
    return true;
}

struct Split {
    std::string_view head;
    std::string_view rest;
};

// "CMD  args" -> {"CMD", "args"}: the first word ends at a blank, then blanks are skipped; trailing
// blanks stay in `rest` (dbus-daemon: _dbus_string_find_blank, _dbus_string_skip_blank).
Split split_word(std::string_view s) {
    size_t end = 0;
    while (end < s.size() && !is_blank(s[end])) ++end;
    size_t rest = end;
    while (rest < s.size() && is_blank(s[rest])) ++rest;
    return {s.substr(0, end), s.substr(rest)};
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Both cases are accepted; an odd last digit becomes the high half of one more byte, as in
// dbus-daemon's _dbus_string_hex_decode. Anything else that is not a hex digit is invalid.
std::optional<std::string> hex_decode(std::string_view hex) {
    std::string bytes;
    bytes.reserve((hex.size() + 1) / 2);
    bool high = true;
    for (char c : hex) {
        const int v = hex_value(c);
        if (v < 0) return std::nullopt;
        if (high)
            bytes.push_back(static_cast<char>(v << 4));
        else
            bytes.back() = static_cast<char>(bytes.back() | v);
        high = !high;
    }
    return bytes;
}

// dbus-daemon reads an EXTERNAL identity with strtoul(base 0) and requires it to use the whole
// string (_dbus_is_a_number), so " 1000", "+1000", "0x3e8" and "01750" all name uid 1000 there.
// Using strtoul too keeps us accepting exactly that set; user names are refused, as in 1.14.
std::optional<unsigned long> parse_identity(const std::string& identity) {
    const char* begin = identity.c_str();
    char* end = nullptr;
    errno = 0;
    const unsigned long v = std::strtoul(begin, &end, 0);
    if (end == begin || end != begin + identity.size() || errno != 0) return std::nullopt;
    return v;
}

// ANONYMOUS trace data must be UTF-8 (dbus-daemon: _dbus_string_validate_utf8, which refuses NUL).
bool is_valid_trace(std::string_view trace) {
    return trace.find('\0') == std::string_view::npos && wire::is_valid_utf8(trace);
}

}  // namespace

SaslServer::SaslServer(const SaslOptions& options)
    : peer_uid_(options.peer_uid),
      allow_external_(options.allow_external),
      allow_anonymous_(options.allow_anonymous),
      unix_fd_capable_(options.unix_fd_capable),
      guid_(options.guid) {}

SaslState SaslServer::feed(std::string_view line, std::string& out) {
    if (state_ == SaslState::authenticated || state_ == SaslState::failed) return state_;
    if (line.size() > max_sasl_line_length) return state_ = SaslState::failed;
    if (!is_ascii(line)) {
        send_error("Command contained non-ASCII", out);
        return state_;
    }
    const auto [cmd, args] = split_word(line);
    switch (state_) {
    case SaslState::auth: dispatch_auth(cmd, args, out); break;
    case SaslState::waiting_for_data: dispatch_data(cmd, args, out); break;
    case SaslState::waiting_for_begin: dispatch_begin(cmd, args, out); break;
    case SaslState::authenticated:
    case SaslState::failed: break;
    }
    return state_;
}

void SaslServer::dispatch_auth(std::string_view cmd, std::string_view args, std::string& out) {
    if (cmd == "AUTH")
        on_auth(args, out);
    else if (cmd == "CANCEL" || cmd == "DATA")
        send_error("Not currently in an auth conversation", out);
    else if (cmd == "BEGIN")
        state_ = SaslState::failed;   // dbus-daemon hangs up without a word
    else if (cmd == "ERROR")
        send_rejected(out);
    else if (cmd == "NEGOTIATE_UNIX_FD")
        send_error("Need to authenticate first", out);
    else
        send_error("Unknown command", out);
}

void SaslServer::dispatch_data(std::string_view cmd, std::string_view args, std::string& out) {
    if (cmd == "AUTH")
        send_error("Sent AUTH while another AUTH in progress", out);
    else if (cmd == "CANCEL" || cmd == "ERROR")
        send_rejected(out);
    else if (cmd == "DATA")
        run_mechanism(args, out);
    else if (cmd == "BEGIN")
        state_ = SaslState::failed;
    else if (cmd == "NEGOTIATE_UNIX_FD")
        send_error("Need to authenticate first", out);
    else
        send_error("Unknown command", out);
}

void SaslServer::dispatch_begin(std::string_view cmd, std::string_view, std::string& out) {
    if (cmd == "AUTH")
        send_error("Sent AUTH while expecting BEGIN", out);
    else if (cmd == "DATA")
        send_error("Sent DATA while expecting BEGIN", out);
    else if (cmd == "BEGIN")
        state_ = SaslState::authenticated;   // arguments ignored, as dbus-daemon does
    else if (cmd == "NEGOTIATE_UNIX_FD")
        on_negotiate_unix_fd(out);
    else if (cmd == "CANCEL" || cmd == "ERROR")
        send_rejected(out);
    else
        send_error("Unknown command", out);
}

void SaslServer::on_auth(std::string_view args, std::string& out) {
    if (args.empty()) return send_rejected(out);   // a request for the mechanism list
    const auto [name, hex] = split_word(args);
    if (name == "EXTERNAL" && allow_external_)
        mechanism_ = Mechanism::external;
    else if (name == "ANONYMOUS" && allow_anonymous_)
        mechanism_ = Mechanism::anonymous;
    else
        return send_rejected(out);   // before looking at the hex, as dbus-daemon
    run_mechanism(hex, out);
}

void SaslServer::run_mechanism(std::string_view hex, std::string& out) {
    const auto data = hex_decode(hex);
    if (!data) return send_error("Invalid hex encoding", out);   // state unchanged
    if (mechanism_ == Mechanism::external)
        run_external(*data, out);
    else
        run_anonymous(*data, out);
}

void SaslServer::run_external(std::string_view identity, std::string& out) {
    if (identity.empty() && !asked_for_identity_) {
        // No identity yet: EXTERNAL asks once with an empty challenge (spec: AUTH command).
        asked_for_identity_ = true;
        state_ = SaslState::waiting_for_data;
        out += "DATA\r\n";
        return;
    }
    if (!identity.empty()) {
        const auto uid = parse_identity(std::string(identity));
        if (!uid || *uid != static_cast<unsigned long>(peer_uid_)) return send_rejected(out);
    }
    // An empty answer to the challenge means "whoever the socket says I am".
    uid_ = peer_uid_;
    send_ok(out);
}

void SaslServer::run_anonymous(std::string_view trace, std::string& out) {
    if (!trace.empty() && !is_valid_trace(trace)) return send_rejected(out);
    anonymous_ = true;
    uid_ = sasl_no_uid;
    send_ok(out);
}

void SaslServer::on_negotiate_unix_fd(std::string& out) {
    if (!unix_fd_capable_)
        return send_error("Unix FD passing not supported, not authenticated or otherwise not possible", out);
    unix_fd_negotiated_ = true;
    out += "AGREE_UNIX_FD\r\n";
}

void SaslServer::send_ok(std::string& out) {
    out += "OK ";
    out += guid_;
    out += "\r\n";
    state_ = SaslState::waiting_for_begin;
}

// REJECTED lists the mechanisms in dbus-daemon's order of preference and ends the exchange. Unlike
// dbus-daemon we also forget an agreed fd passing: the client has to negotiate it again.
void SaslServer::send_rejected(std::string& out) {
    out += "REJECTED";
    if (allow_external_) out += " EXTERNAL";
    if (allow_anonymous_) out += " ANONYMOUS";
    out += "\r\n";
    mechanism_ = Mechanism::none;
    asked_for_identity_ = false;
    unix_fd_negotiated_ = false;
    anonymous_ = false;
    uid_ = sasl_no_uid;
    ++rejections_;
    state_ = rejections_ >= max_sasl_rejections ? SaslState::failed : SaslState::auth;
}

void SaslServer::send_error(std::string_view text, std::string& out) {
    out += "ERROR \"";
    out += text;
    out += "\"\r\n";
}

SaslLine cut_sasl_line(std::string_view buffer) {
    const size_t end = buffer.find("\r\n");
    if (end == std::string_view::npos) {
        const bool over = buffer.size() > max_sasl_buffer;
        return {over ? SaslLine::Status::too_long : SaslLine::Status::need_more, {}, 0};
    }
    if (end > max_sasl_line_length) return {SaslLine::Status::too_long, {}, 0};
    return {SaslLine::Status::line, buffer.substr(0, end), end + 2};
}

}  // namespace jetbus::broker
