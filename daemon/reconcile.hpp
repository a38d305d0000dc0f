// Brings the state file in line with what the module traces now. Pure: the
// daemon gathers the observation (observe.hpp), this decides.
//
// Rules:
// - A device the module traces is written with its identity, mode, chain,
//   seqid, cache size and CoW path made relative to its filesystem (see
//   relative_cow_path); when the path cannot be made relative (absolute and
//   the filesystem not mounted), the stored one is kept if it is the same
//   CoW file (same chain and seqid), else it becomes unknown (null) and a
//   warning says that the device cannot be reloaded.
// - A device without UUID or PARTUUID is not written (warning): it could not
//   be found again after a reboot. If it was known, its entry is kept.
// - A stored device the module does not trace is removed only if it was last
//   seen in the same module instance (same boot, same module load): it was
//   destroyed. Otherwise it waits for its reload (after a reboot, or an
//   rmmod and modprobe) and is kept.
//   A stored device whose identity is now traced on another minor is dropped.
// - With the module not loaded nothing changes.
#pragma once

#include "device_identity.hpp"
#include "state_file.hpp"

#include <bsnap/device_info.hpp>
#include <string>
#include <vector>

namespace bsnap::daemon {

struct observed_device {
    device_info info;
    device_identity identity; // empty if the device has none or could not be read
    std::vector<std::string> mount_points;
    bool is_root = false;
};

struct observation {
    bool module_loaded = false;
    std::string module_instance;
    std::vector<observed_device> devices;
};

struct reconcile_result {
    state next;
    std::vector<std::string> changes;  // one line per changed device, for the log
    std::vector<std::string> warnings; // devices that cannot be reloaded
};

reconcile_result reconcile(const state& previous, const observation& now);

// "minor 3 (UUID=...)": how messages name a stored device.
std::string describe(const traced_device& device);

} // namespace bsnap::daemon
