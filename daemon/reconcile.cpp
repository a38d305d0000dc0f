#include "reconcile.hpp"

#include "mount_table.hpp"

#include <algorithm>

namespace bsnap::daemon {

namespace {

bool same_cow_file(const traced_device& stored, const device_info& info) {
    return stored.chain_uuid == info.uuid && stored.seqid == info.seqid;
}

std::string cow_text(const std::optional<std::string>& cow) {
    return cow ? *cow : std::string("(unknown)");
}

// What changed between two entries of one minor, "" if nothing that matters.
std::string difference(const traced_device& a, const traced_device& b) {
    std::vector<std::string> parts;
    if (a.identity != b.identity)
        parts.push_back("now " + to_string(b.identity));
    if (a.mode != b.mode)
        parts.push_back(std::string(to_string(a.mode)) + " -> " + to_string(b.mode));
    if (a.seqid != b.seqid || a.chain_uuid != b.chain_uuid)
        parts.push_back(
            "seqid " + std::to_string(a.seqid) + " -> " + std::to_string(b.seqid) +
            (a.chain_uuid != b.chain_uuid ? " (new chain " + format_uuid(b.chain_uuid) + ")" : ""));
    if (a.cow != b.cow)
        parts.push_back("cow " + cow_text(a.cow) + " -> " + cow_text(b.cow));
    if (a.root != b.root)
        parts.push_back(b.root ? "root filesystem" : "not the root filesystem");
    if (a.cache_size != b.cache_size)
        parts.push_back("cache size " + std::to_string(b.cache_size));
    if (a.ignore_errors != b.ignore_errors)
        parts.push_back(b.ignore_errors ? "ignore errors (-i)" : "no -i");
    std::string text;
    for (const auto& p : parts)
        text += (text.empty() ? "" : ", ") + p;
    return text;
}

} // namespace

std::string describe(const traced_device& device) {
    return "minor " + std::to_string(device.minor) + " (" + to_string(device.identity) +
           (device.device.empty() ? "" : ", last seen as " + device.device) + ")";
}

reconcile_result reconcile(const state& previous, const observation& now) {
    reconcile_result result;
    if (!now.module_loaded) {
        result.next = previous;
        return result;
    }

    std::vector<unsigned> observed_minors;
    for (const auto& seen : now.devices) {
        const device_info& info = seen.info;
        observed_minors.push_back(info.minor);
        const traced_device* stored = previous.find(info.minor);

        traced_device d;
        d.minor = info.minor;
        d.identity = seen.identity;
        if (d.identity.empty()) {
            if (stored && stored->device == info.bdev_path) {
                d.identity = stored->identity;
            } else {
                result.warnings.push_back(
                    "minor " + std::to_string(info.minor) + " (" + info.bdev_path +
                    "): no filesystem UUID or PARTUUID, so it cannot be found again after a "
                    "reboot; it is not in the state file and will not be reloaded");
                if (stored)
                    result.next.devices.push_back(*stored);
                continue;
            }
        }
        bool same_device = stored && stored->identity == d.identity;
        d.mode = info.decoded_state().mode;
        d.chain_uuid = info.uuid;
        d.seqid = info.seqid;
        d.cache_size = info.cache_size;
        d.ignore_errors = info.ignore_errors;
        // A failed snapshot's CoW file is sealed "index only" (its change
        // map is whole, its copies are not): only reload-incremental can
        // continue the chain from it; reload-snapshot would refuse it.
        if (d.mode == device_mode::snapshot && info.error != 0)
            d.mode = device_mode::incremental;
        d.device = info.bdev_path;
        d.module_instance = now.module_instance;
        d.root = seen.is_root || (same_device && stored->root);
        d.cow = relative_cow_path(info.cow_path, seen.mount_points);
        if (!d.cow && same_device && same_cow_file(*stored, info))
            d.cow = stored->cow;
        if (!d.cow)
            result.warnings.push_back(describe(d) + ": cannot tell where the CoW file " +
                                      info.cow_path +
                                      " lies on its filesystem (not mounted); it cannot be "
                                      "reloaded after a reboot until it is mounted again");
        if (!stored)
            result.changes.push_back(describe(d) + ": now traced, " + to_string(d.mode) + ", cow " +
                                     cow_text(d.cow) + ", seqid " + std::to_string(d.seqid));
        else if (std::string diff = difference(*stored, d); !diff.empty())
            result.changes.push_back(describe(d) + ": " + diff);
        result.next.devices.push_back(std::move(d));
    }

    for (const auto& stored : previous.devices) {
        if (std::find(observed_minors.begin(), observed_minors.end(), stored.minor) !=
            observed_minors.end())
            continue;
        if (stored.module_instance == now.module_instance) {
            result.changes.push_back(describe(stored) + ": no longer traced (destroyed)");
            continue;
        }
        auto same_identity = [&stored](const traced_device& d) {
            return d.identity == stored.identity;
        };
        if (std::any_of(result.next.devices.begin(), result.next.devices.end(), same_identity)) {
            result.changes.push_back(describe(stored) +
                                     ": dropped, the device is traced on another minor now");
            continue;
        }
        result.next.devices.push_back(stored); // waits for its reload
    }
    std::sort(result.next.devices.begin(), result.next.devices.end(),
              [](const auto& a, const auto& b) { return a.minor < b.minor; });
    return result;
}

} // namespace bsnap::daemon
