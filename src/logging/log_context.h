// The connection a log line is about. The broker is one event loop, so whoever handles a connection's
// input opens a ScopedLogContext for it, and every line logged meanwhile (however deep in the router or
// the driver) can be tagged with that connection: the journal sink turns it into structured fields.
// Plain types and no libsystemd here, so src/broker can use it without depending on main.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace jetbus::logging {

struct LogContext {
    uint64_t connection = 0;                  // the broker's connection id; 0: none
    // Read when a line is written, not when the context opens: Hello may name the peer mid-handler. It
    // points into the connection, which the handler that opened the context keeps alive.
    const std::string* unique_name = nullptr;
    pid_t peer_pid = 0;                       // from SO_PEERCRED; 0: unknown
};

// Makes context the current one until destruction, then restores the one before (contexts nest: a
// line about a receiver inside the handling of a sender's message names the receiver).
class ScopedLogContext {
public:
    explicit ScopedLogContext(const LogContext& context);
    ~ScopedLogContext();
    ScopedLogContext(const ScopedLogContext&) = delete;
    ScopedLogContext& operator=(const ScopedLogContext&) = delete;

private:
    LogContext context_;
    const LogContext* previous_;
};

// The innermost open context on this thread, or nullptr when no line is about a connection.
const LogContext* current_log_context();

}  // namespace jetbus::logging
