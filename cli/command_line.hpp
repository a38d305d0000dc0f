// bsnapctl's command line: a pure function from arguments to a command, and
// the help texts. Nothing here touches a device or the filesystem.
#pragma once

#include "commands.hpp"

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bsnap::ctl {

// Exit statuses that are not an errno.
inline constexpr int exit_usage = 64;    // EX_USAGE: malformed command line
inline constexpr int exit_internal = 70; // EX_SOFTWARE: a bug in bsnapctl

// A command line bsnapctl refuses. status() is exit_usage for syntax errors, or
// an errno for a well-formed value the module would refuse too (EINVAL for a
// minor out of range); then what() already ends with that errno's text.
class usage_error : public std::runtime_error {
  public:
    usage_error(std::string_view name, const std::string& message, int status = exit_usage);
    const std::string& command() const { return command_; }
    int status() const { return status_; }

  private:
    std::string command_;
    int status_;
};

// args: the arguments after the program name. Throws usage_error.
command parse_command_line(const std::vector<std::string>& args);

// Help for `bsnapctl help` (empty topic) or one command; throws usage_error on
// an unknown topic.
std::string help_text(std::string_view topic = {});

} // namespace bsnap::ctl
