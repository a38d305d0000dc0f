#include "cow_grower.hpp"

#include "log.hpp"

#include <bsnap/control_device.hpp>
#include <bsnap/cow_location.hpp>
#include <bsnap/errors.hpp>
#include <bsnap/size.hpp>
#include <sys/statvfs.h>

namespace bsnap::daemon {

namespace {

constexpr std::uint64_t slot = 4096;

std::uint64_t percent_of(std::uint64_t value, unsigned percent) {
    // Without overflow for any file or filesystem size.
    return value / 100 * percent + value % 100 * percent / 100;
}

std::string name(unsigned minor) {
    return "bsnap" + std::to_string(minor);
}

} // namespace

std::uint64_t growth_step(std::uint64_t file_size, const fs_space& space,
                          const cow_grow_options& options, std::string* why) {
    std::uint64_t want = percent_of(file_size, options.grow_percent);
    want = (want + slot - 1) / slot * slot;
    std::uint64_t keep = percent_of(space.total, options.min_free_percent);
    std::uint64_t room = space.available > keep ? space.available - keep : 0;
    room -= room % slot;
    if (want == 0) {
        if (why)
            *why = std::to_string(options.grow_percent) + " % of a " + format_size(file_size) +
                   " file is nothing";
        return 0;
    }
    if (want <= room)
        return want;
    if (room >= min_growth_step)
        return room;
    if (why)
        *why = "growing it by " + format_size(want) + " (or at least " +
               format_size(min_growth_step) + ") would leave its filesystem less than " +
               std::to_string(options.min_free_percent) + " % free (" +
               format_size(space.available) + " of " + format_size(space.total) + " available)";
    return 0;
}

cow_grow_actions system_cow_grow_actions() {
    cow_grow_actions act;
    act.info = [](unsigned minor) { return control_device().info(minor); };
    act.locate = [](const device_info& info) { return locate_cow_file(info); };
    act.space = [](const std::filesystem::path& dir) {
        struct statvfs st;
        if (::statvfs(dir.c_str(), &st) < 0)
            throw_errno("statvfs " + dir.string());
        return fs_space{static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize,
                        static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize};
    };
    act.grow = [](unsigned minor, const std::filesystem::path& cow, std::uint64_t bytes) {
        control_device ctl;
        return grow_cow_file(ctl, minor, cow, bytes);
    };
    return act;
}

std::vector<unsigned> cow_low_to_grow(const std::vector<device_info>& devices,
                                      std::map<unsigned, std::uint64_t>& tried) {
    std::vector<unsigned> grow;
    std::map<unsigned, std::uint64_t> still;
    for (const device_info& d : devices) {
        device_state st = d.decoded_state();
        if (st.mode != device_mode::snapshot || st.failed || !d.cow_low())
            continue;
        auto it = tried.find(d.minor);
        if (it == tried.end() || it->second != d.falloc_size)
            grow.push_back(d.minor);
        still[d.minor] = d.falloc_size;
    }
    tried = std::move(still);
    return grow;
}

void grow_on_cow_low(unsigned minor, const cow_grow_options& options, cow_grow_actions& act) {
    try {
        device_info info = act.info(minor);
        std::filesystem::path cow = act.locate(info);
        fs_space space = act.space(cow.parent_path());
        std::string why;
        std::uint64_t step = growth_step(info.falloc_size, space, options, &why);
        if (step == 0) {
            log_warning(name(minor) + ": CoW file " + cow.string() + " not grown: " + why +
                        "; the snapshot fails when the file fills");
            return;
        }
        cow_growth_result result = act.grow(minor, cow, step);
        log_info(describe(result, minor));
        for (const std::string& note : result.notes)
            log_warning(name(minor) + ": " + note);
        if (result.grown_bytes > 0 && result.usable_bytes < result.grown_bytes / 2)
            log_warning(name(minor) + ": only " + format_size(result.usable_bytes) + " of the " +
                        format_size(result.grown_bytes) +
                        " added to the CoW file can take CoW data: the rest was in use at the "
                        "snapshot instant (space freed since, by deleting files, still holds "
                        "data the snapshot needs)");
    } catch (const std::system_error& e) {
        log_warning(name(minor) + ": CoW file growth failed: " + e.what() +
                    "; the snapshot fails when the file fills");
    } catch (const std::exception& e) {
        log_warning(name(minor) + ": CoW file growth failed: " + e.what() +
                    "; the snapshot fails when the file fills");
    }
}

} // namespace bsnap::daemon
