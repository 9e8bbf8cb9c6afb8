// The current log context: one thread-local pointer to the innermost ScopedLogContext's copy.
#include "logging/log_context.h"

namespace jetbus::logging {

namespace {
thread_local const LogContext* current = nullptr;
}

ScopedLogContext::ScopedLogContext(const LogContext& context) : context_(context), previous_(current) {
    current = &context_;
}

ScopedLogContext::~ScopedLogContext() { current = previous_; }

const LogContext* current_log_context() { return current; }

}  // namespace jetbus::logging
