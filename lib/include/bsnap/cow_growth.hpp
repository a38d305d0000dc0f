// Growing the CoW file of a running snapshot, safely (<uapi/bsnap.h>).
//
// Blocks the filesystem hands to the file after the snapshot instant may
// still hold data the snapshot needs (a file deleted since frees its
// blocks), so new space takes CoW data only where the snapshot's own
// filesystem had it free. The snapshot image /dev/bsnapN is that filesystem
// exactly as it was at the instant (frozen then, so its journal is clean
// and it mounts read-only without recovery); a block it has free holds
// nothing the snapshot needs.
//
// grow_cow_file() therefore: lets the module check the request (EXPAND_COW
// of 0 bytes); mounts the image read-only, detached (detached_mount.hpp);
// grows the file (EXPAND_COW); maps the space added
// since the snapshot instant, [grown_off, file_size), to device bytes
// (FIEMAP); asks the image's filesystem which of them it has free
// (GETFSMAP); and names those file ranges to the module (COW_USABLE).
#pragma once

#include "bsnap/control_device.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace bsnap {

struct cow_growth_result {
    std::uint64_t grown_bytes = 0;      // added to the file by this call
    std::uint64_t file_size = 0;        // the file's size now
    std::uint64_t grown_off = 0;        // file bytes from here on were added after the snapshot
    std::uint64_t free_in_snapshot = 0; // of those, free in the snapshot: named to the module
    std::uint64_t usable_bytes = 0;     // became usable now (the module's count)
    // CoW data the file can take now; unknown when the module was not asked
    // (nothing to name).
    std::optional<std::uint64_t> free_bytes;
    // Worth a log line each: new space left out and why.
    std::vector<std::string> notes;

    std::uint64_t added_since_snapshot() const { return file_size - grown_off; }
};

// Grows the CoW file of snapshot <minor> by grow_bytes (0: grow nothing,
// only name again the free parts of space added before, which a reload
// forgets) and makes the parts the snapshot had free usable. cow: the file's
// path from here. Throws std::system_error: the module's errno from
// EXPAND_COW (ENOENT: no such minor; EINVAL: not a snapshot, not its CoW
// file, failed; ENOSPC); ENOTSUP before growing anything when the image's
// filesystem is neither ext4 nor xfs; any error after the growth leaves the
// file grown but its new space unused (a later call with grow_bytes 0 names
// it).
cow_growth_result grow_cow_file(control_device& ctl, unsigned minor,
                                const std::filesystem::path& cow, std::uint64_t grow_bytes);

// One line for people, e.g. "bsnap0: CoW file grown by 64 MiB to 192 MiB;
// 60 MiB of it usable (free in the snapshot), 70 MiB free for CoW data".
std::string describe(const cow_growth_result& result, unsigned minor);

} // namespace bsnap
