// bsnapd's answer to the module's "cow-low" event (the CoW file of a
// snapshot is 75 % full): grow the file by a share of its size, as long as
// the filesystem keeps a share of its space available, through
// grow_cow_file() (bsnap/cow_growth.hpp), which makes only the new space the
// snapshot had free usable. Every failure is a warning: the snapshot goes on
// until its file fills, and the module sends "cow-low" again once a grown
// file is 75 % full.
#pragma once

#include <bsnap/cow_growth.hpp>
#include <bsnap/device_info.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace bsnap::daemon {

struct cow_grow_options {
    bool enabled = true;            // --no-cow-grow clears it
    unsigned grow_percent = 50;     // of the file's size, per cow-low
    unsigned min_free_percent = 10; // of the filesystem, left available
};

// A growth step smaller than this is not worth a cow-low: the file would
// fill again at once.
inline constexpr std::uint64_t min_growth_step = 16 * 1024 * 1024;

// Space of the filesystem holding the CoW file, in bytes.
struct fs_space {
    std::uint64_t total = 0;
    std::uint64_t available = 0; // to unprivileged users (statvfs f_bavail)
};

// How much to grow: grow_percent of file_size (rounded up to 4 KiB), or, if
// that would leave less than min_free_percent of total available, what
// still fits, if at least min_growth_step; else 0 and *why says why.
std::uint64_t growth_step(std::uint64_t file_size, const fs_space& space,
                          const cow_grow_options& options, std::string* why);

// What handling a cow-low does to the world; tests replace them.
struct cow_grow_actions {
    std::function<device_info(unsigned minor)> info;
    std::function<std::filesystem::path(const device_info&)> locate; // the CoW file from here
    std::function<fs_space(const std::filesystem::path& dir)> space;
    std::function<cow_growth_result(unsigned minor, const std::filesystem::path& cow,
                                    std::uint64_t grow_bytes)>
        grow;
};

// The module's control device, locate_cow_file(), statvfs() and grow_cow_file().
cow_grow_actions system_cow_grow_actions();

// The periodic check behind the events: the snapshots among <devices> that
// are low (the module's cow-low condition, device_info::cow_low) and not
// failed, and that this check has not tried to grow at their current file
// size. A lost "cow-low" event thus only delays growth until the next tick,
// and a growth that cannot happen is not retried every tick. <tried> maps
// a minor to the file size last tried; it is updated, and minors no longer
// listed are forgotten.
std::vector<unsigned> cow_low_to_grow(const std::vector<device_info>& devices,
                                      std::map<unsigned, std::uint64_t>& tried);

// Grows the CoW file of snapshot <minor> after a cow-low, logging what it
// did: info for the growth, warnings for a growth mostly unusable (less
// than half the added space was free at the snapshot), for a step that does
// not fit, and for any failure (with its errno text). Never throws.
void grow_on_cow_low(unsigned minor, const cow_grow_options& options, cow_grow_actions& act);

} // namespace bsnap::daemon
