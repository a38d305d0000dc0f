// The mounts bsnapd needs to know about, read with libmount from
// /proc/self/mountinfo: which block device is mounted where, so that an
// absolute CoW path becomes relative to its filesystem's root, and which
// device holds "/".
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace bsnap::daemon {

inline constexpr const char* default_mountinfo = "/proc/self/mountinfo";

struct mount_entry {
    dev_t devno = 0;
    std::string target; // the mount point
    std::string root;   // the directory of the filesystem mounted there ("/" unless a bind)
    bool read_only = false;

    bool operator==(const mount_entry&) const = default;
};

using mount_table = std::vector<mount_entry>;

// Throws std::system_error naming the file.
mount_table read_mount_table(const std::filesystem::path& mountinfo = default_mountinfo);

// The mount points of devno's filesystem mounted at its root (not binds of a
// subdirectory), in mountinfo order.
std::vector<std::string> mount_points(const mount_table& mounts, dev_t devno);

// The device mounted at "/" (the last such mount wins, as in the kernel).
std::optional<dev_t> root_device(const mount_table& mounts);

// The CoW path as reload takes it: a relative path is kept; an absolute one
// loses the mount point under which it lies ("/mnt/x/.bsnap0" on "/mnt/x"
// gives ".bsnap0", "/.bsnap0" on "/" gives ".bsnap0"). None if no mount
// point contains it.
std::optional<std::string> relative_cow_path(const std::string& cow,
                                             const std::vector<std::string>& mount_points);

// The device number of a block device node; none if it is not one.
std::optional<dev_t> block_devno(const std::string& path);

} // namespace bsnap::daemon
