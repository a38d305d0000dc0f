#include "reload.hpp"

#include "reconcile.hpp"

#include <cerrno>
#include <system_error>

namespace bsnap::daemon {

namespace {

std::string full_backup(const traced_device& entry) {
    return "the change history is lost: destroy minor " + std::to_string(entry.minor) +
           ", set the device up again and take a full backup";
}

} // namespace

reload_plan plan_reload(const state& s, reload_scope scope, device_resolver& resolver,
                        const std::vector<device_info>& traced) {
    reload_plan plan;
    for (const auto& entry : s.devices) {
        if (scope == reload_scope::root_only && !entry.root)
            continue;
        if (scope == reload_scope::all_but_root && entry.root) {
            plan.skipped.push_back({entry, "root filesystem: reloaded by the initramfs", false});
            continue;
        }
        if (!entry.cow) {
            plan.skipped.push_back(
                {entry, "the CoW file's path on its filesystem is not known: " + full_backup(entry),
                 true});
            continue;
        }
        std::optional<std::string> bdev;
        try {
            bdev = resolver.resolve(entry.identity);
        } catch (const std::exception& e) {
            plan.skipped.push_back({entry, e.what(), true});
            continue;
        }
        if (!bdev) {
            plan.skipped.push_back({entry,
                                    "no device with " + to_string(entry.identity) +
                                        " (not attached? reformatted?); not reloaded",
                                    true, true});
            continue;
        }
        bool busy = false;
        for (const auto& info : traced) {
            if (info.minor != entry.minor)
                continue;
            busy = true;
            if (info.bdev_path == *bdev)
                plan.skipped.push_back({entry, "already traced", false});
            else
                plan.skipped.push_back({entry,
                                        "minor " + std::to_string(entry.minor) + " is taken by " +
                                            info.bdev_path + "; not reloaded",
                                        true});
        }
        if (busy)
            continue;
        reload_action action;
        action.entry = entry;
        action.snapshot = entry.mode == device_mode::snapshot;
        action.params.bdev = *bdev;
        action.params.cow = *entry.cow;
        action.params.minor = entry.minor;
        action.params.cache_size = entry.cache_size;
        action.params.ignore_errors = entry.ignore_errors;
        plan.actions.push_back(std::move(action));
    }
    return plan;
}

namespace {

std::string command_line(const reload_action& action) {
    return std::string(action.snapshot ? "reload-snapshot " : "reload-incremental ") +
           action.params.bdev + " " + action.params.cow;
}

// Runs call, an exception's errno (EIO if none) and what() becoming the
// result and a note for the message.
int call_module(const std::function<int()>& call, std::string& note) {
    try {
        return call();
    } catch (const std::system_error& e) {
        note = " (" + std::string(e.what()) + ")";
        return e.code().value() > 0 ? e.code().value() : EIO;
    }
}

// After reload-snapshot refused with EUCLEAN: destroy, then reload-incremental.
void reload_lost_snapshot(reload_outcome& outcome, const reload_call& call,
                          const destroy_call& destroy) {
    const std::string refused = describe(outcome.action.entry) + ": " +
                                command_line(outcome.action) +
                                ": refused: " + std::generic_category().message(EUCLEAN);
    reload_action incremental = outcome.action;
    incremental.snapshot = false;
    std::string note;
    int error = call_module(
        [&] {
            try {
                destroy(incremental.params.minor);
            } catch (const std::system_error& e) {
                // A refusal that left nothing registered needs no destroy.
                if (e.code().value() != ENOENT)
                    throw;
            }
            return call(incremental);
        },
        note);
    outcome.action = incremental;
    outcome.error = error;
    traced_device entry = incremental.entry;
    entry.mode = device_mode::incremental;
    if (error != 0) {
        outcome.message = refused + "; " + command_line(incremental) + note +
                          ": failed: " + std::generic_category().message(error) + ": " +
                          explain_reload_error(error, entry);
        return;
    }
    outcome.snapshot_lost = true;
    outcome.message = refused + ": the snapshot was in use at a crash and is lost; " +
                      command_line(incremental) +
                      ": reloaded, unverified until mounted: the chain goes on, but the backup "
                      "of that snapshot never completed: give update-img the CoW files of the "
                      "last completed backup's snapshot and of every later one";
}

} // namespace

std::vector<reload_outcome> run_reload(const reload_plan& plan, const reload_call& call,
                                       const destroy_call& destroy) {
    std::vector<reload_outcome> outcomes;
    for (const auto& action : plan.actions) {
        reload_outcome outcome;
        outcome.action = action;
        std::string what = describe(action.entry) + ": " + command_line(action);
        std::string note;
        outcome.error = call_module([&] { return call(action); }, note);
        what += note;
        if (outcome.error == EUCLEAN && action.snapshot && destroy)
            reload_lost_snapshot(outcome, call, destroy);
        else if (outcome.error == 0)
            outcome.message = what + ": reloaded, unverified until mounted";
        else
            outcome.message = what + ": failed: " + std::generic_category().message(outcome.error) +
                              ": " + explain_reload_error(outcome.error, action.entry);
        outcomes.push_back(std::move(outcome));
    }
    return outcomes;
}

reload_call module_reload_call(control_device& ctl) {
    return [&ctl](const reload_action& action) {
        if (action.snapshot)
            ctl.reload_snapshot(action.params);
        else
            ctl.reload_incremental(action.params);
        // An unusable CoW file leaves the device registered, unverified and failed.
        return ctl.info(action.params.minor).error;
    };
}

destroy_call module_destroy_call(control_device& ctl) {
    return [&ctl](unsigned minor) { ctl.destroy(minor); };
}

std::string explain_reload_error(int error, const traced_device& entry) {
    switch (error) {
    case EUCLEAN:
        if (entry.mode == device_mode::snapshot)
            return "the snapshot was in use at a crash and is lost (destroy minor " +
                   std::to_string(entry.minor) +
                   " and reload-incremental its CoW file: the chain goes on), or the CoW file "
                   "cannot say what changed (its chain broke, or a version 3 file was not closed "
                   "cleanly: " +
                   full_backup(entry) + ")";
        // A crash no longer costs the chain where write intent is kept
        // (format version 4): what is left is a change that may be missing.
        return "the CoW file cannot say what changed: its chain is marked broken (a change may "
               "be missing: a write bsnap could not record, or a destroy while dormant), or it "
               "was not closed cleanly and predates write intent (format version 3: a crash "
               "while mounted read-write); " +
               full_backup(entry);
    case ESTALE:
        return "the CoW file is superseded, or the device changed while bsnap was not "
               "tracking it (mounted, written or repaired without bsnap); " +
               full_backup(entry);
    case EBADMSG:
        return "the CoW file is damaged; " + full_backup(entry);
    case ENOENT:
        return "the CoW file " + (entry.cow ? *entry.cow : std::string("?")) +
               " is not on the filesystem; " + full_backup(entry);
    case EBUSY:
        return "the filesystem is already mounted (reload must come before its mount) or the "
               "minor is in use; writes since the mount were not tracked, so " +
               full_backup(entry);
    case ENOTBLK:
        return "not a block device";
    default:
        return "the device is not traced; if it is not reloaded, take a full backup";
    }
}

} // namespace bsnap::daemon
