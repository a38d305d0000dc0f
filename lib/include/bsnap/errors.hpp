// Errors of the bsnap library: std::system_error carrying an errno and a context.
//
// what() reads "<context>: <strerror>", e.g. "open /dev/bsnap-ctl: Permission denied".
// The context names the object (a path, "minor 3"); the caller names the operation.
#pragma once

#include <string>
#include <system_error>

namespace bsnap {

// The symbolic name of a positive errno ("ENOSPC"); "" for 0 or an unknown one.
std::string errno_name(int err);

// strerror() of a positive errno; "" for 0.
std::string errno_text(int err);

// A system_error in the generic (errno) category.
std::system_error errno_error(int err, const std::string& context);

// Throws errno_error(errno, context); call it right after the failing system call.
[[noreturn]] void throw_errno(const std::string& context);

// Data that bsnap reads (the /proc file, later CoW headers) does not have the
// expected format. Carries EBADMSG so that tools can still exit with an errno.
class format_error : public std::system_error {
  public:
    explicit format_error(const std::string& context);
};

} // namespace bsnap
