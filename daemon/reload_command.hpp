// `bsnapd --reload` and `--reload-root`: load the state file, load the module
// if needed, wait for the devices, reload them, and log every outcome.
#pragma once

#include "options.hpp"
#include "reload.hpp"

namespace bsnap::daemon {

// The exit status: 0, EBADMSG for a corrupt state file, else the errno of
// the first device left untraced (ENODEV when no device has its identity).
int reload_command(const options& opts, reload_scope scope);

// Runs `modprobe bsnap` unless /proc/bsnap-info exists; throws
// std::system_error if it still does not.
void ensure_module_loaded();

} // namespace bsnap::daemon
