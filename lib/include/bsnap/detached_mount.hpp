// A filesystem mounted read-only where no one sees it: the new mount API
// (fsopen, fsconfig, fsmount) without move_mount, so the mount appears in no
// mount table, and closing its descriptor unmounts it. Used to ask the
// snapshot image's filesystem about its free space (cow_growth.hpp).
#pragma once

#include "bsnap/unique_fd.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace bsnap {

// The filesystem type on a block device, from its superblock (libblkid):
// "ext4", "xfs"; "" if none is found. Throws std::system_error
// "probe <device>: ..." when the device cannot be read.
std::string probe_filesystem_type(const std::filesystem::path& device);

// The fsconfig flags, besides "ro", that mount a filesystem of fs_type
// without touching its journal or log: ext4 "noload"; xfs "norecovery" and
// "nouuid" (the traced filesystem with the same UUID is mounted). Throws
// std::system_error ENOTSUP for other types (cow growth needs GETFSMAP, which
// only ext4 and xfs have), naming 'what' (e.g. "/dev/bsnap0").
std::vector<std::string> read_only_mount_flags(const std::string& fs_type, const std::string& what);

class detached_mount {
  public:
    // Mounts the filesystem of type fs_type on device read-only with
    // read_only_mount_flags(). Throws std::system_error "mount <device>
    // (<fs_type>): <step>: <kernel's messages>: <strerror>".
    detached_mount(const std::filesystem::path& device, const std::string& fs_type);

    // The root directory of the mount, open read-only (for ioctls).
    int root() const { return root_.get(); }

  private:
    unique_fd mount_; // fsmount()'s O_PATH descriptor; the mount lives while it is open
    unique_fd root_;
};

} // namespace bsnap
