// Checks a tool makes on paths before handing them to the module, for a clear
// message; the kernel checks again. Errors are std::system_error:
//   ENOTBLK "/tmp/x: Block device required", EISDIR "cow file /mnt: Is a directory",
//   ENOENT "cow file's directory /mnt/nope", ENAMETOOLONG "cow file path too long (...)".
#pragma once

#include <string>
#include <string_view>

namespace bsnap {

// The canonical path (symlinks resolved, e.g. /dev/disk/by-uuid/... ->
// /dev/vda1) of an existing block device.
std::string canonical_block_device(const std::string& path);

// The absolute, canonical path of a CoW file that may not exist yet: its
// directory must exist, and the path must not name a directory.
std::string canonical_cow_path(const std::string& path);

// ENAMETOOLONG unless path, with its NUL, fits BSNAP_PATH_MAX. what names the
// path's role ("cow file").
void check_path_length(std::string_view what, const std::string& path);

} // namespace bsnap
