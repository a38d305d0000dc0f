// update-img's I/O pipeline: several reader threads read extents from the
// snapshot at once (queue depth `readers`, so the device always has work
// while the image is written), the calling thread writes them, each as soon
// as it has been read (in any order: extents do not overlap).
//
// Buffers come from a fixed pool (aligned for O_DIRECT), so at most
// `buffers` extents are in memory; a reader waits for a free one. The first
// exception thrown by a read or a write stops everything: no new read
// starts, the readers are joined, and run_copy_pipeline rethrows it.
#pragma once

#include "copy_plan.hpp"

#include <cstddef>
#include <functional>
#include <optional>

namespace bsnap::upd {

struct pipeline_options {
    std::size_t buffer_bytes = 4 * 1024 * 1024; // at least the largest extent
    unsigned readers = 4;                       // threads reading at once (at least 1)
    unsigned buffers = 6;                       // extents in memory (at least 1)
};

// Called with a lock held, so never twice at once: the next extent, or nullopt.
using extent_source = std::function<std::optional<copy_extent>()>;
// Fills buf with extent.read; called from the reader threads, several at once.
using extent_reader = std::function<void(const copy_extent& extent, std::byte* buf)>;
// Writes what it wants of buf (extent.read's bytes); called in the calling thread.
using extent_writer = std::function<void(const copy_extent& extent, const std::byte* buf)>;

void run_copy_pipeline(const pipeline_options& options, const extent_source& next,
                       const extent_reader& read, const extent_writer& write);

} // namespace bsnap::upd
