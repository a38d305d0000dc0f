// update-img's copy plan: the runs of changed blocks of a CoW file's bitmap
// turned into the extents read from the snapshot, each one large request.
//
// Every request to /dev/bsnapN has a high fixed cost (it is served by a
// worker, then cloned to the origin), so reading the few unchanged blocks
// between two nearby runs costs less than a second request: runs separated
// by at most max_gap bytes share one extent, up to max_io bytes per extent
// (a longer run is split). Only the changed runs of an extent are written to
// the image; the unchanged blocks read along with them are dropped. (Writing
// them would be correct too, the image already holds them, but it would
// cost write bandwidth and allocate space in a sparse image.)
//
// Offsets are block aligned; only the device's last block may be partial,
// and extents and runs are clipped to the device's end.
#pragma once

#include <bsnap/cow_file_reader.hpp>
#include <cstdint>
#include <optional>
#include <vector>

namespace bsnap::upd {

struct byte_range {
    std::uint64_t offset = 0;
    std::uint64_t length = 0;

    std::uint64_t end() const { return offset + length; }
    bool operator==(const byte_range&) const = default;
};

struct copy_extent {
    byte_range read;                  // read from the snapshot in one request
    std::vector<byte_range> changed;  // the changed runs inside it, increasing: written
    std::uint64_t changed_blocks = 0; // blocks of the runs in changed

    std::uint64_t changed_bytes() const;
    bool operator==(const copy_extent&) const = default;
};

struct plan_limits {
    std::uint64_t max_io = 4 * 1024 * 1024; // bytes per extent (at least one block)
    std::uint64_t max_gap = 1024 * 1024;    // unchanged bytes read to join two runs; 0: never
};

// Hands out the extents in increasing order, one per next(). A view over
// the runs (and so over the bitmap behind them), which must outlive it.
class copy_planner {
  public:
    copy_planner(const block_runs& runs, std::uint64_t block_size, std::uint64_t device_bytes,
                 const plan_limits& limits);

    // The next extent, or nullopt once every changed block was handed out.
    std::optional<copy_extent> next();

  private:
    bool fetch(); // makes pending_ the next run if it is empty; false at the end
    void take(copy_extent& extent, std::uint64_t start, std::uint64_t& end);
    byte_range bytes(std::uint64_t first_block, std::uint64_t end_block) const;

    block_runs::iterator it_;
    block_run pending_; // the part of a run not handed out yet; count 0: none
    std::uint64_t block_size_;
    std::uint64_t device_bytes_;
    std::uint64_t max_blocks_;
    std::uint64_t gap_blocks_;
};

// The whole plan at once (for tests and small bitmaps).
std::vector<copy_extent> plan_copy(const block_runs& runs, std::uint64_t block_size,
                                   std::uint64_t device_bytes, const plan_limits& limits);

} // namespace bsnap::upd
