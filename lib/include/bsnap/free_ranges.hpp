// Which parts of a grown CoW file the snapshot's filesystem had free: the
// arithmetic of cow_growth.hpp, without I/O, so that it can be tested alone.
//
// The inputs are the file's extents (FIEMAP: where each file byte lies on the
// filesystem's device) and what FS_IOC_GETFSMAP on the snapshot image reports
// about those device bytes. A device byte counts as free only where a free
// record covers it and no in-use record does. A byte no record mentions
// counts as in use: until late 2024 (commit 4a622e4d477b, "ext4: fix
// FS_IOC_GETFSMAP handling", sent to the stable kernels) ext4 left allocated
// blocks out of its answer when a range held no free block, and taking such
// a silence for "free" would let CoW data overwrite blocks the snapshot
// still reads. Missing a free block only wastes space.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace bsnap {

// One extent of a file: file bytes [logical, +length) lie at device bytes
// [physical, +length).
struct file_extent {
    std::uint64_t logical = 0;
    std::uint64_t physical = 0;
    std::uint64_t length = 0;
    bool operator==(const file_extent&) const = default;
};

// What the snapshot's filesystem says about device bytes [physical, +length).
struct space_record {
    std::uint64_t physical = 0;
    std::uint64_t length = 0;
    bool free = false;
    bool operator==(const space_record&) const = default;
};

// A byte range of a file.
struct file_range {
    std::uint64_t off = 0;
    std::uint64_t len = 0;
    std::uint64_t end() const { return off + len; }
    bool operator==(const file_range&) const = default;
};

struct free_file_ranges {
    std::vector<file_range> ranges;   // increasing, disjoint, not adjacent
    std::uint64_t dropped_ranges = 0; // free ranges past max_ranges, left out
    std::uint64_t dropped_bytes = 0;

    std::uint64_t bytes() const;
};

// The bytes of window (file offsets) that lie in extents and were free:
// merged where they touch, then shrunk to whole multiples of align (in file
// offsets: the module hands out 4 KiB slots from a 4 KiB-aligned data area,
// so a partly free slot is of no use), the lowest max_ranges of them kept.
// Records and extents may come in any order and overlap; zero lengths are
// ignored and ends past 2^64 are clamped.
free_file_ranges find_free_file_ranges(std::span<const file_extent> extents,
                                       std::span<const space_record> records, file_range window,
                                       std::size_t max_ranges, std::uint64_t align = 4096);

} // namespace bsnap
