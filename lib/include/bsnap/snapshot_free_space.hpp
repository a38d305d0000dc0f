// Which bytes of a file the snapshot's filesystem had free: the file's
// extents on the live filesystem (FIEMAP) against the free space of the
// snapshot image (GETFSMAP on the image mounted read-only and detached).
// Both filesystems share one device layout: the image is the traced device
// as it was at the snapshot instant, byte for byte.
#pragma once

#include "bsnap/detached_mount.hpp"
#include "bsnap/free_ranges.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

namespace bsnap {

class snapshot_filesystem {
  public:
    // Mounts image (a block device: /dev/bsnapN) read-only and detached.
    // Throws std::system_error: ENOTBLK, ENOTSUP when its filesystem is
    // neither ext4 nor xfs, or the mount's errno with the kernel's messages.
    explicit snapshot_filesystem(const std::filesystem::path& image);

    const std::string& fs_type() const { return fs_type_; }

    // The bytes of window (file offsets) of the open file fd, which lives on
    // the traced filesystem, that the snapshot had free, as
    // find_free_file_ranges() gives them (max_ranges, 4 KiB slots). Adds a
    // line to notes for extents left out and ranges past max_ranges. name:
    // the file, for messages.
    free_file_ranges free_ranges(int fd, file_range window, const std::string& name,
                                 std::size_t max_ranges, std::vector<std::string>& notes) const;

  private:
    std::string image_;
    dev_t device_ = 0;
    std::string fs_type_;
    detached_mount mount_;
};

} // namespace bsnap
