// JournalSink: the fields of an entry (a pure function) and sending them with sd_journal_sendv.
#include "logging/journal_sink.h"

#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION  // the CODE_* fields would name this file, not the caller
#include <systemd/sd-journal.h>

#include <fmt/format.h>

namespace jetbus::logging {

int journal_priority(spdlog::level::level_enum level) {
    switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return LOG_DEBUG;
    case spdlog::level::info: return LOG_INFO;
    case spdlog::level::warn: return LOG_WARNING;
    case spdlog::level::err: return LOG_ERR;
    case spdlog::level::critical: return LOG_CRIT;
    default: return LOG_INFO;
    }
}

std::vector<std::string> journal_fields(std::string_view message, spdlog::level::level_enum level,
                                        const LogContext* context) {
    std::vector<std::string> fields;
    fields.reserve(6);
    fields.push_back(fmt::format("MESSAGE={}", message));
    fields.push_back(fmt::format("PRIORITY={}", journal_priority(level)));
    fields.push_back(fmt::format("SYSLOG_IDENTIFIER={}", kSyslogIdentifier));
    if (context == nullptr) return fields;
    if (context->connection != 0) fields.push_back(fmt::format("JETBUS_CONNECTION={}", context->connection));
    if (context->unique_name != nullptr && !context->unique_name->empty()) {
        fields.push_back(fmt::format("JETBUS_UNIQUE_NAME={}", *context->unique_name));
    }
    if (context->peer_pid > 0) fields.push_back(fmt::format("JETBUS_PEER_PID={}", context->peer_pid));
    return fields;
}

void JournalSink::sink_it_(const spdlog::details::log_msg& msg) {
    const std::string_view message(msg.payload.data(), msg.payload.size());
    const std::vector<std::string> fields = journal_fields(message, msg.level, current_log_context());
    std::vector<iovec> iov;
    iov.reserve(fields.size());
    for (const std::string& f : fields) iov.push_back({const_cast<char*>(f.data()), f.size()});
    if (sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0) return;
    // No journal to take it (it restarts, or there is none): the line must not vanish.
    const auto level = spdlog::level::to_string_view(msg.level);
    const std::string line = fmt::format("{}[{}]: {}: {}\n", kSyslogIdentifier, getpid(),
                                         std::string_view(level.data(), level.size()), message);
    if (::write(STDERR_FILENO, line.data(), line.size()) < 0) { /* nowhere left to report it */ }
}

}  // namespace jetbus::logging
