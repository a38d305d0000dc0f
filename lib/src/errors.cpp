#include "bsnap/errors.hpp"

#include <cerrno>
#include <string.h>

namespace bsnap {

std::string errno_name(int err) {
    const char* name = err > 0 ? ::strerrorname_np(err) : nullptr;
    return name ? name : "";
}

std::string errno_text(int err) {
    return err != 0 ? std::generic_category().message(err) : std::string();
}

std::system_error errno_error(int err, const std::string& context) {
    return std::system_error(err, std::generic_category(), context);
}

void throw_errno(const std::string& context) {
    throw errno_error(errno, context);
}

format_error::format_error(const std::string& context)
    : std::system_error(EBADMSG, std::generic_category(), context) {}

} // namespace bsnap
