#include "copy_plan.hpp"

#include <algorithm>

namespace bsnap::upd {

std::uint64_t copy_extent::changed_bytes() const {
    std::uint64_t bytes = 0;
    for (const byte_range& run : changed)
        bytes += run.length;
    return bytes;
}

copy_planner::copy_planner(const block_runs& runs, std::uint64_t block_size,
                           std::uint64_t device_bytes, const plan_limits& limits)
    : it_(runs.begin()), block_size_(block_size), device_bytes_(device_bytes),
      max_blocks_(std::max<std::uint64_t>(1, limits.max_io / block_size)),
      gap_blocks_(limits.max_gap / block_size) {}

bool copy_planner::fetch() {
    if (pending_.count != 0)
        return true;
    if (it_ == std::default_sentinel)
        return false;
    pending_ = *it_;
    ++it_;
    return true;
}

byte_range copy_planner::bytes(std::uint64_t first_block, std::uint64_t end_block) const {
    std::uint64_t offset = first_block * block_size_;
    return {offset, std::min(end_block * block_size_, device_bytes_) - offset};
}

// Moves the head of pending_, as much as fits below start + max_blocks_,
// into extent, whose blocks then end at end.
void copy_planner::take(copy_extent& extent, std::uint64_t start, std::uint64_t& end) {
    std::uint64_t n = std::min(pending_.count, start + max_blocks_ - pending_.first);
    extent.changed.push_back(bytes(pending_.first, pending_.first + n));
    extent.changed_blocks += n;
    end = pending_.first + n;
    pending_.first += n;
    pending_.count -= n;
}

std::optional<copy_extent> copy_planner::next() {
    if (!fetch())
        return std::nullopt;
    copy_extent extent;
    const std::uint64_t start = pending_.first;
    std::uint64_t end = start;
    take(extent, start, end);
    // Join the following runs while the gap is small and a block of the run fits.
    while (pending_.count == 0 && fetch() && pending_.first - end <= gap_blocks_ &&
           pending_.first < start + max_blocks_)
        take(extent, start, end);
    extent.read = bytes(start, end);
    return extent;
}

std::vector<copy_extent> plan_copy(const block_runs& runs, std::uint64_t block_size,
                                   std::uint64_t device_bytes, const plan_limits& limits) {
    std::vector<copy_extent> plan;
    copy_planner planner(runs, block_size, device_bytes, limits);
    while (std::optional<copy_extent> extent = planner.next())
        plan.push_back(std::move(*extent));
    return plan;
}

} // namespace bsnap::upd
