// /dev/bsnap-ctl: the module's ioctls as typed calls.
//
// Each call fills the struct's 'size' and passes paths as user pointers; the
// arguments go to the kernel unchecked (the kernel validates them; see
// path_checks.hpp for the checks a tool makes first). Errors are
// std::system_error with the kernel's errno; what() names the object
// ("minor 3: Device or resource busy"), the caller names the operation.
#pragma once

#include "bsnap/device_info.hpp"
#include "bsnap/unique_fd.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <system_error>

namespace bsnap {

inline constexpr const char* control_device_path = "/dev/" BSNAP_CTL_NAME;

struct module_version {
    std::uint32_t abi_version = 0;
    std::string version;
};

// setup-snapshot, reload-snapshot, reload-incremental.
// What EXPAND_COW reports: the file's bytes from grown_off on were added
// after the snapshot instant (grown_off == file_size: none).
struct cow_expansion {
    std::uint64_t grown_off = 0;
    std::uint64_t file_size = 0;
    bool operator==(const cow_expansion&) const = default;
};

// What COW_USABLE reports.
struct cow_usable {
    std::uint64_t added_bytes = 0; // became usable with this call
    std::uint64_t free_bytes = 0;  // CoW data the file can take now
    bool operator==(const cow_usable&) const = default;
};

struct setup_params {
    std::string bdev; // block device path
    std::string cow;  // CoW file: absolute for setup, relative to the mount point for reload
    unsigned minor = 0;
    std::uint64_t cache_size = 0;     // bytes; 0 = module default
    std::uint64_t fallocate_size = 0; // bytes of the CoW file (setup); 0 = default (10 %)
    bool ignore_errors = false;       // reads of a failed snapshot do not return EIO
};

// One device of a group snapshot (snapshot_group()).
enum class group_op {
    setup,      // a new snapshot of bdev (BSNAP_GROUP_SETUP)
    transition, // an incremental device takes a new snapshot (BSNAP_GROUP_TRANSITION)
};

struct group_member {
    group_op op = group_op::setup;
    unsigned minor = 0;
    std::string bdev;                 // setup only: block device path
    std::string cow;                  // absolute path of the new CoW file
    std::uint64_t cache_size = 0;     // setup only: bytes; 0 = module default
    std::uint64_t fallocate_size = 0; // bytes of the CoW file; 0 = default (10 %)
    bool ignore_errors = false;       // setup only
    bool operator==(const group_member&) const = default;
};

// "member 2 (/dev/vdc, minor 3, cow /mnt/c/.cow)": index counts from 0, the
// text from 1 (the order of the command line). Transition members have no
// block device in the text.
std::string group_member_context(const group_member& member, std::size_t index);

// What snapshot_group() throws: the errno, and which member failed the group
// (member() < size of the group), or none (the group as a whole was refused:
// its size, a module without group snapshots).
class group_error : public std::system_error {
  public:
    group_error(int err, const std::string& context, std::optional<std::size_t> member)
        : std::system_error(err, std::generic_category(), context), member_(member) {}
    std::optional<std::size_t> member() const { return member_; }

  private:
    std::optional<std::size_t> member_;
};

class control_device {
  public:
    // Opens the device. ENOENT throws "bsnap module not loaded (no <path>)",
    // other errors "open <path>: <strerror>".
    explicit control_device(const std::filesystem::path& path = control_device_path);

    module_version version();
    void setup_snapshot(const setup_params& params);
    void reload_snapshot(const setup_params& params);
    void reload_incremental(const setup_params& params);
    void destroy(unsigned minor);
    void transition_to_incremental(unsigned minor);
    // cow: absolute path of the new CoW file; fallocate_size in bytes, 0 = default.
    void transition_to_snapshot(unsigned minor, const std::string& cow,
                                std::uint64_t fallocate_size = 0);
    void reconfigure(unsigned minor, std::uint64_t cache_size);
    // Several snapshots at one instant (BSNAP_IOC_SNAPSHOT_GROUP, at most
    // BSNAP_MAX_GROUP members): every member is prepared, then all their
    // filesystems are frozen in the order given, the snapshots start, and
    // they are thawed in reverse order. Throws group_error naming the member
    // at fault ("member 2 (/dev/vdc, minor 3, cow /mnt/c): Device or resource
    // busy"); a failure before the instant (all but finishing a started
    // snapshot) leaves every member as it was.
    void snapshot_group(std::span<const group_member> members);
    // Grows the CoW file of snapshot <minor> by grow_bytes (rounded up to 4 KiB;
    // 0: only report). cow_fd: that file, open read-only (the module checks
    // it is the file it holds); cow_name names it in messages. The new space
    // takes no CoW data until add_usable_ranges() names parts of it.
    cow_expansion expand_cow(unsigned minor, int cow_fd, std::uint64_t grow_bytes,
                             const std::string& cow_name);
    // Names byte ranges of [grown_off, file_size) of the CoW file that the
    // snapshot's filesystem had free at the snapshot instant (at most
    // BSNAP_MAX_COW_RANGES): the module then stores CoW data there. Naming a
    // block that was in use corrupts the snapshot.
    cow_usable add_usable_ranges(unsigned minor, std::span<const bsnap_cow_range> ranges);
    device_info info(unsigned minor);
    unsigned get_free_minor();

    const std::filesystem::path& path() const { return path_; }
    int fd() const { return fd_.get(); }

  private:
    void setup(unsigned long request, const setup_params& params);
    void call(unsigned long request, void* arg, const std::string& context);

    std::filesystem::path path_;
    unique_fd fd_;
};

} // namespace bsnap
