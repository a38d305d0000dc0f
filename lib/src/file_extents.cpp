#include "bsnap/file_extents.hpp"

#include "bsnap/errors.hpp"

#include <algorithm>
#include <cerrno>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

namespace bsnap {

namespace {

// Extents asked for per call.
constexpr std::uint32_t batch = 256;

struct flag_reason {
    std::uint32_t flag;
    const char* why;
};

// DATA_ENCRYPTED comes with ENCODED, DATA_TAIL with NOT_ALIGNED; both are
// listed so that the reason is the more precise one.
constexpr flag_reason unusable_flags[] = {
    {FIEMAP_EXTENT_UNKNOWN, "location unknown"},
    {FIEMAP_EXTENT_DELALLOC, "delayed allocation (no blocks yet)"},
    {FIEMAP_EXTENT_DATA_ENCRYPTED, "encrypted"},
    {FIEMAP_EXTENT_ENCODED, "encoded"},
    {FIEMAP_EXTENT_DATA_INLINE, "inline data"},
    {FIEMAP_EXTENT_DATA_TAIL, "tail packed with other files"},
    {FIEMAP_EXTENT_NOT_ALIGNED, "not block aligned"},
    {FIEMAP_EXTENT_SHARED, "shared with another file"},
};

std::string describe(std::uint64_t off, std::uint64_t len) {
    return "file bytes [" + std::to_string(off) + ", +" + std::to_string(len) + ")";
}

} // namespace

std::optional<file_extent> usable_extent(const fiemap_extent& extent, std::string* why) {
    for (const flag_reason& f : unusable_flags) {
        if (extent.fe_flags & f.flag) {
            if (why)
                *why = f.why;
            return std::nullopt;
        }
    }
    return file_extent{extent.fe_logical, extent.fe_physical, extent.fe_length};
}

file_extent_map read_file_extents(int fd, std::uint64_t start, std::uint64_t end,
                                  const std::string& name) {
    // struct fiemap ends in a flexible array: room for it in 8-byte words.
    std::vector<std::uint64_t> storage(
        (sizeof(fiemap) + batch * sizeof(fiemap_extent) + sizeof(std::uint64_t) - 1) /
        sizeof(std::uint64_t));
    auto* map = reinterpret_cast<fiemap*>(storage.data());

    file_extent_map result;
    std::uint64_t pos = start;
    while (pos < end) {
        std::fill(storage.begin(), storage.end(), 0);
        map->fm_start = pos;
        map->fm_length = end - pos;
        map->fm_extent_count = batch;
        int r;
        do {
            r = ::ioctl(fd, FS_IOC_FIEMAP, map);
        } while (r < 0 && errno == EINTR);
        if (r < 0)
            throw_errno("FIEMAP " + name);
        if (map->fm_mapped_extents == 0)
            break; // a hole up to end
        bool last = false;
        for (std::uint32_t i = 0; i < map->fm_mapped_extents; ++i) {
            const fiemap_extent& e = map->fm_extents[i];
            std::string why;
            if (auto extent = usable_extent(e, &why)) {
                result.extents.push_back(*extent);
            } else {
                std::uint64_t lo = std::max<std::uint64_t>(e.fe_logical, start);
                std::uint64_t hi = std::min<std::uint64_t>(e.fe_logical + e.fe_length, end);
                if (lo < hi) {
                    result.skipped.push_back(describe(lo, hi - lo) + ": " + why);
                    result.skipped_bytes += hi - lo;
                }
            }
            last = last || (e.fe_flags & FIEMAP_EXTENT_LAST);
        }
        const fiemap_extent& tail = map->fm_extents[map->fm_mapped_extents - 1];
        std::uint64_t next = tail.fe_logical + tail.fe_length;
        if (last)
            break;
        if (next <= pos) // the kernel went backwards: do not loop forever
            throw errno_error(EIO,
                              "FIEMAP " + name + ": no progress past byte " + std::to_string(pos));
        pos = next;
    }
    return result;
}

} // namespace bsnap
