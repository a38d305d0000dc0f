// Reload at boot: which stored devices are re-attached with which command
// (plan_reload, pure but for the injected resolver), running the plan
// (run_reload, with the module's call injected), and what each refusal means
// for the backup chain (explain_reload_error).
#pragma once

#include "device_identity.hpp"
#include "state_file.hpp"

#include <bsnap/control_device.hpp>
#include <bsnap/device_info.hpp>
#include <functional>
#include <string>
#include <vector>

namespace bsnap::daemon {

// bsnap-reload.service reloads every device but the root filesystem's; the
// initramfs reloads that one alone.
enum class reload_scope { all_but_root, root_only };

struct reload_action {
    traced_device entry;
    bool snapshot = false; // reload-snapshot, else reload-incremental
    setup_params params;   // bdev resolved now, cow relative, minor, cache size
};

struct reload_skip {
    traced_device entry;
    std::string reason;
    bool problem = false;        // true: the device stays untraced, say so loudly
    bool device_missing = false; // no device has its identity (yet: worth waiting)
};

struct reload_plan {
    std::vector<reload_action> actions;
    std::vector<reload_skip> skipped;
};

// traced: what the module traces now (a minor already traced with the same
// device is skipped, with another device it is a problem).
reload_plan plan_reload(const state& s, reload_scope scope, device_resolver& resolver,
                        const std::vector<device_info>& traced);

// The module's answer to one reload: 0, or the positive errno of the ioctl
// or of the CoW file check after it (info's error).
using reload_call = std::function<int(const reload_action&)>;
// Destroys a minor (throws std::system_error).
using destroy_call = std::function<void(unsigned minor)>;

struct reload_outcome {
    reload_action action; // what was done last: incremental after a lost snapshot
    int error = 0;
    std::string message;        // for the log: what happened and what to do
    bool snapshot_lost = false; // a snapshot in use at a crash, reloaded incremental
};

// Runs every action (one failure does not stop the others). A snapshot
// refused with EUCLEAN may have been in use at a crash: lost, its index not
// trusted, but its change record (write intent) still carries the chain. If
// destroy is given, the refused device is destroyed and its file reloaded
// incremental, as the module asks (docs/states.md); a file whose chain is
// broken is then refused again, with EUCLEAN.
std::vector<reload_outcome> run_reload(const reload_plan& plan, const reload_call& call,
                                       const destroy_call& destroy = {});

// The call to the real module: reload_snapshot/reload_incremental, then info.
reload_call module_reload_call(control_device& ctl);
// Destroy on the real module.
destroy_call module_destroy_call(control_device& ctl);

// What a reload errno means, and what to do, in one sentence.
std::string explain_reload_error(int error, const traced_device& entry);

} // namespace bsnap::daemon
