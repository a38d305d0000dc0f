// Where a traced device's CoW file is, seen from here. The module reports
// the path it was given: absolute after setup-snapshot and
// transition-to-snapshot, relative to the filesystem's mount point after a
// reload (the filesystem was not mounted yet).
#pragma once

#include "bsnap/device_info.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <sys/types.h>

namespace bsnap {

inline constexpr const char* default_mounts_file = "/proc/self/mounts";

// The first mount point in the mounts file (fstab format) under which
// 'relative' names a regular file on device 'device'. (A namesake under a
// bind mount of a subdirectory would match; the module, which checks the
// inode, refuses it.) Throws std::system_error if the mounts file cannot be
// read.
std::optional<std::filesystem::path>
find_under_mounts(const std::filesystem::path& relative, dev_t device,
                  const std::filesystem::path& mounts = default_mounts_file);

// info.cow_path if absolute; else found under a mount point of
// info.bdev_path. Throws std::system_error ENOENT "CoW file <path> of
// <bdev>: not found under any mount point of it" when it is not.
std::filesystem::path locate_cow_file(const device_info& info,
                                      const std::filesystem::path& mounts = default_mounts_file);

} // namespace bsnap
