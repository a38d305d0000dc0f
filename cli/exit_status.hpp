// How bsnapctl reports a failure: one line on stderr and an exit status.
//
// Exit status: 0 on success; the errno of a std::system_error (the kernel's,
// or a check's such as ENOTBLK); usage_error::status() for a refused command
// line (exit_usage = 64, or EINVAL for a minor out of range); ENOMEM when
// memory runs out; exit_internal (70) for anything else.
#pragma once

#include <exception>
#include <string>
#include <string_view>

namespace bsnap::ctl {

struct failure {
    int status;
    std::string message; // "bsnapctl: <command>: <message>: <strerror>", no newline
};

// name: the command's name, or empty when none was recognised.
failure describe_failure(std::string_view name, const std::exception_ptr& error);

} // namespace bsnap::ctl
