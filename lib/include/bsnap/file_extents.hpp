// Where a file's bytes lie on its filesystem's device: FS_IOC_FIEMAP.
#pragma once

#include "bsnap/free_ranges.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct fiemap_extent;

namespace bsnap {

struct file_extent_map {
    std::vector<file_extent> extents; // in file order
    // Extents whose device location cannot be trusted as the place of the
    // data (see usable_extent), left out, each with why: "file bytes
    // [off, +len): delayed allocation".
    std::vector<std::string> skipped;
    std::uint64_t skipped_bytes = 0;
};

// The extent as a file_extent, or why its device bytes are not the file's
// own plain blocks: location unknown or not yet allocated, data encoded,
// inline or packed with other files' (not block aligned), or shared with
// another file (reflink). Such bytes are never named usable.
std::optional<file_extent> usable_extent(const fiemap_extent& extent, std::string* why);

// The extents of the open file fd over file bytes [start, end), in file
// order (the first may begin before start, the last end past end); holes are
// absent. name: the file, for messages. Throws std::system_error
// "FIEMAP <name>: <strerror>" (EOPNOTSUPP where the filesystem has no FIEMAP).
file_extent_map read_file_extents(int fd, std::uint64_t start, std::uint64_t end,
                                  const std::string& name);

} // namespace bsnap
