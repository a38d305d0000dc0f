#include "log.hpp"

#include <cstdio>
#include <utility>

namespace bsnap::daemon {

namespace {

log_sink& current_sink() {
    static log_sink sink;
    return sink;
}

} // namespace

void log(priority level, const std::string& message) {
    if (const auto& sink = current_sink()) {
        sink(level, message);
        return;
    }
    // One write per line, so that lines of concurrent writers do not mix.
    std::string line = "<" + std::to_string(static_cast<int>(level)) + ">" + message + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

log_sink set_log_sink(log_sink sink) {
    return std::exchange(current_sink(), std::move(sink));
}

} // namespace bsnap::daemon
