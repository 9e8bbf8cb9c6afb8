// AccessDenied texts and log lines of dbus-daemon 1.14 for policy refusals.
#include "policy/denial_text.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

namespace jetbus::policy {
namespace {

std::string_view type_name(wire::MessageType type) {  // dbus_message_type_to_string
    switch (type) {
    case wire::MessageType::method_call: return "method_call";
    case wire::MessageType::method_return: return "method_return";
    case wire::MessageType::error: return "error";
    case wire::MessageType::signal: return "signal";
    default: return "invalid";
    }
}

std::string_view or_unset(std::string_view value) { return value.empty() ? "(unset)" : value; }

std::string_view complaint_text(Complaint c) {
    switch (c) {
    case Complaint::rejected_send: return "Rejected send message";
    case Complaint::rejected_receive: return "Rejected receive message";
    case Complaint::full_queue: return "Rejected: destination has a full message queue";
    default: return "Would reject message";
    }
}

}  // namespace

std::string format_loginfo(std::optional<uid_t> uid, std::optional<pid_t> pid, std::string_view comm,
                           std::string_view label) {
    std::string out;
    if (uid) out += fmt::format("uid={}", *uid);
    if (pid) out += fmt::format("{}pid={} comm=\"{}\"", out.empty() ? "" : " ", *pid, comm);
    if (!label.empty()) out += fmt::format("{}label=\"{}\"", out.empty() ? "" : " ", label);
    return out;
}

std::string command_for_pid(pid_t pid) {
    int fd = ::open(fmt::format("/proc/{}/cmdline", pid).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    std::string buf(max_log_command_length, '\0');
    ssize_t n = ::read(fd, buf.data(), buf.size());
    ::close(fd);
    buf.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    // cmdline ends in a NUL; dropping it first avoids a trailing space.
    if (!buf.empty() && buf.back() == '\0') buf.pop_back();
    for (char& c : buf) {
        auto u = static_cast<unsigned char>(c);
        if (u == 0) c = ' ';
        else if (u < 0x20 || u > 127) c = '?';
    }
    return buf;
}

std::string format_message_complaint(Complaint complaint, const Verdict& verdict, const MessageFacts& m,
                                     const PeerDescription* sender, const PeerDescription* recipient) {
    return fmt::format(
        "{}, {} matched rules; type=\"{}\", sender=\"{}\" ({}) interface=\"{}\" member=\"{}\" error name=\"{}\" "
        "requested_reply=\"{}\" destination=\"{}\" ({})",
        complaint_text(complaint), verdict.matched_rules, type_name(m.type),
        sender ? sender->unique_name : "(unset)", sender ? sender->loginfo : "(bus)", or_unset(m.interface),
        or_unset(m.member), or_unset(m.error_name), m.requested_reply ? 1 : 0,
        m.destination.empty() ? "org.freedesktop.DBus" : m.destination, recipient ? recipient->loginfo : "bus");
}

std::string format_own_denied(std::string_view connection_name, std::string_view name) {
    return fmt::format(
        "Connection \"{}\" is not allowed to own the service \"{}\" due to security policies in the configuration file",
        connection_name, name);
}

}  // namespace jetbus::policy
