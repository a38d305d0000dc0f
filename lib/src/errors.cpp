#include "bsnap/errors.hpp"

#include <cerrno>

namespace bsnap {

std::system_error errno_error(int err, const std::string& context) {
    return std::system_error(err, std::generic_category(), context);
}

void throw_errno(const std::string& context) {
    throw errno_error(errno, context);
}

format_error::format_error(const std::string& context)
    : std::system_error(EBADMSG, std::generic_category(), context) {}

} // namespace bsnap
