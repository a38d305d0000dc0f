// Gathers what reconcile() needs from the running system: /proc/bsnap-info,
// the mount table, each traced device's identity, and which module load this
// is.
#pragma once

#include "device_identity.hpp"
#include "reconcile.hpp"

#include <filesystem>
#include <string>

namespace bsnap::daemon {

struct system_paths {
    std::filesystem::path proc_info = "/proc/bsnap-info";
    std::filesystem::path mountinfo = "/proc/self/mountinfo";
    std::filesystem::path boot_id = "/proc/sys/kernel/random/boot_id";
    std::filesystem::path module_dir = "/sys/module/bsnap";
};

// "<boot id>/<inode of /sys/module/bsnap>": differs after a reboot and after
// the module is unloaded and loaded again; "" if the module is not loaded.
std::string module_instance(const system_paths& paths);

// module_loaded is false when /proc/bsnap-info does not exist. A device
// whose identity cannot be read gets an empty one. Throws std::system_error
// for other read errors, format_error for a malformed /proc/bsnap-info.
observation observe(const system_paths& paths, device_resolver& resolver);

} // namespace bsnap::daemon
