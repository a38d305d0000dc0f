#include "bsnap/snapshot_free_space.hpp"

#include "bsnap/errors.hpp"
#include "bsnap/file_extents.hpp"
#include "bsnap/size.hpp"
#include "bsnap/space_map.hpp"

#include <algorithm>
#include <cerrno>
#include <sys/stat.h>

namespace bsnap {

namespace {

struct device_range {
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
};

// The device bytes of the window's part of each extent, joined where they
// touch: one GETFSMAP query each.
std::vector<device_range> device_ranges(const std::vector<file_extent>& extents,
                                        file_range window) {
    std::vector<device_range> out;
    for (const file_extent& e : extents) {
        std::uint64_t lo = std::max(e.logical, window.off);
        std::uint64_t hi = std::min(e.logical + e.length, window.end());
        if (lo < hi)
            out.push_back({e.physical + (lo - e.logical), e.physical + (hi - e.logical)});
    }
    std::sort(out.begin(), out.end(),
              [](const device_range& a, const device_range& b) { return a.begin < b.begin; });
    std::vector<device_range> joined;
    for (const device_range& r : out) {
        if (!joined.empty() && r.begin <= joined.back().end)
            joined.back().end = std::max(joined.back().end, r.end);
        else
            joined.push_back(r);
    }
    return joined;
}

// The image's device number, checked to be a block device.
dev_t block_device(const std::string& image) {
    struct stat st;
    if (::stat(image.c_str(), &st) < 0)
        throw_errno("snapshot image " + image);
    if (!S_ISBLK(st.st_mode))
        throw errno_error(ENOTBLK, "snapshot image " + image);
    return st.st_rdev;
}

} // namespace

snapshot_filesystem::snapshot_filesystem(const std::filesystem::path& image)
    : image_(image.string()), device_(block_device(image_)), fs_type_(probe_filesystem_type(image)),
      mount_(image, fs_type_) {}

free_file_ranges snapshot_filesystem::free_ranges(int fd, file_range window,
                                                  const std::string& name, std::size_t max_ranges,
                                                  std::vector<std::string>& notes) const {
    file_extent_map map = read_file_extents(fd, window.off, window.end(), name);
    if (!map.skipped.empty())
        notes.push_back(std::to_string(map.skipped.size()) + " extents (" +
                        format_size(map.skipped_bytes) + ") of " + name +
                        " left unused, their blocks are not the file's own: " +
                        map.skipped.front() + (map.skipped.size() > 1 ? ", ..." : ""));

    std::vector<space_record> records;
    const std::uint32_t device = fsmap_device(device_);
    for (const device_range& r : device_ranges(map.extents, window)) {
        std::vector<space_record> part =
            read_space_map(mount_.root(), device, r.begin, r.end, image_);
        records.insert(records.end(), part.begin(), part.end());
    }

    free_file_ranges found = find_free_file_ranges(map.extents, records, window, max_ranges);
    if (found.dropped_ranges)
        notes.push_back(std::to_string(found.dropped_ranges) + " free ranges (" +
                        format_size(found.dropped_bytes) + ") of " + name +
                        " left unused: at most " + std::to_string(max_ranges) +
                        " per call, the lowest kept");
    return found;
}

} // namespace bsnap
