// Runs a parsed bsnapctl command against the module.
#pragma once

#include "commands.hpp"

#include <ostream>

namespace bsnap::ctl {

// Writes the command's output to out. Throws std::system_error (errno and a
// context naming the object) on failure; partial output may have been written.
void execute(const command& cmd, std::ostream& out);

} // namespace bsnap::ctl
