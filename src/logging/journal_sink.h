// JournalSink: where spdlog's lines go when jetbus runs under systemd. Each line becomes one journal
// entry with MESSAGE, PRIORITY and SYSLOG_IDENTIFIER=jetbus and, when it is about a connection (see
// log_context.h), JETBUS_CONNECTION, JETBUS_UNIQUE_NAME and JETBUS_PEER_PID, so that
// `journalctl JETBUS_PEER_PID=1234` finds what the bus said about one peer. Only main uses it, which
// keeps libsystemd out of src/broker.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>

#include "logging/log_context.h"

namespace jetbus::logging {

inline constexpr std::string_view kSyslogIdentifier = "jetbus";

// The syslog(3) priority of an spdlog level (trace and debug are both LOG_DEBUG).
int journal_priority(spdlog::level::level_enum level);

// One journal entry as "NAME=value" fields, in the order they are sent. Fields of the context that are
// unknown (no unique name before Hello, no pid) are left out rather than sent empty.
std::vector<std::string> journal_fields(std::string_view message, spdlog::level::level_enum level,
                                        const LogContext* context);

// Single-threaded like the broker. A line the journal refuses is written to stderr instead.
class JournalSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
protected:
    void sink_it_(const spdlog::details::log_msg& msg) override;
    void flush_() override {}
};

}  // namespace jetbus::logging
