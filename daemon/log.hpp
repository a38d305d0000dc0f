// bsnapd's log: one line per message on stderr, with the "<N>" priority
// prefix that journald reads (sd-daemon(3)); under systemd stderr goes to the
// journal. Tests can capture the lines instead (set_log_sink).
#pragma once

#include <functional>
#include <string>

namespace bsnap::daemon {

enum class priority { err = 3, warning = 4, notice = 5, info = 6, debug = 7 };

void log(priority level, const std::string& message);

inline void log_error(const std::string& message) {
    log(priority::err, message);
}
inline void log_warning(const std::string& message) {
    log(priority::warning, message);
}
inline void log_notice(const std::string& message) {
    log(priority::notice, message);
}
inline void log_info(const std::string& message) {
    log(priority::info, message);
}

// Replaces stderr (an empty function restores it); returns the previous sink.
using log_sink = std::function<void(priority, const std::string&)>;
log_sink set_log_sink(log_sink sink);

} // namespace bsnap::daemon
