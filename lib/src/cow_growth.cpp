#include "bsnap/cow_growth.hpp"

#include "bsnap/errors.hpp"
#include "bsnap/size.hpp"
#include "bsnap/snapshot_free_space.hpp"
#include "bsnap/unique_fd.hpp"

#include <algorithm>
#include <fcntl.h>
#include <uapi/bsnap.h>

namespace bsnap {

cow_growth_result grow_cow_file(control_device& ctl, unsigned minor,
                                const std::filesystem::path& cow, std::uint64_t grow_bytes) {
    const std::string cow_name = cow.string();

    // Read-only: the file is immutable while the module uses it. One
    // descriptor for EXPAND_COW and FIEMAP: both see the same inode.
    unique_fd file = open_fd(cow, O_RDONLY | O_NOFOLLOW);

    // The module's checks first (a snapshot, its CoW file, not failed):
    // their errno says more than a missing image would. Then the image: a
    // file must not grow on a filesystem whose free space at the snapshot
    // cannot be read.
    const cow_expansion before = ctl.expand_cow(minor, file.get(), 0, cow_name);
    snapshot_filesystem snapshot("/dev/" BSNAP_DEV_PREFIX + std::to_string(minor));
    cow_expansion grown = before;
    if (grow_bytes > 0)
        grown = ctl.expand_cow(minor, file.get(), grow_bytes, cow_name);
    cow_growth_result result;
    result.file_size = grown.file_size;
    result.grown_off = std::min(grown.grown_off, grown.file_size);
    result.grown_bytes =
        grown.file_size > before.file_size ? grown.file_size - before.file_size : 0;
    if (result.grown_off == result.file_size)
        return result; // nothing added since the snapshot

    free_file_ranges found =
        snapshot.free_ranges(file.get(), {result.grown_off, result.file_size - result.grown_off},
                             cow_name, BSNAP_MAX_COW_RANGES, result.notes);
    result.free_in_snapshot = found.bytes();
    if (found.ranges.empty())
        return result;

    std::vector<bsnap_cow_range> ranges;
    ranges.reserve(found.ranges.size());
    for (const file_range& r : found.ranges)
        ranges.push_back({r.off, r.len});
    cow_usable usable = ctl.add_usable_ranges(minor, ranges);
    result.usable_bytes = usable.added_bytes;
    result.free_bytes = usable.free_bytes;
    return result;
}

std::string describe(const cow_growth_result& r, unsigned minor) {
    std::string text = BSNAP_DEV_PREFIX + std::to_string(minor) + ": CoW file ";
    if (r.grown_bytes > 0)
        text += "grown by " + format_size(r.grown_bytes) + " to " + format_size(r.file_size) +
                "; " + format_size(r.usable_bytes) + " of it usable";
    else
        text += "not grown (" + format_size(r.file_size) + ", " +
                format_size(r.added_since_snapshot()) + " added since the snapshot); " +
                format_size(r.usable_bytes) + " more usable";
    text += " (free in the snapshot)";
    if (r.free_bytes)
        text += ", " + format_size(*r.free_bytes) + " free for CoW data";
    return text;
}

} // namespace bsnap
