// The real snapshot_lookup of update-img: /dev/bsnapN is a block device of
// bsnap's major (from /proc/devices); its minor N is asked of the module
// (control_device::info) for the chain UUID, seqid and any stored error.
#pragma once

#include "update_img.hpp"

#include <filesystem>
#include <optional>
#include <string_view>

namespace bsnap::upd {

inline constexpr const char* proc_devices_path = "/proc/devices";

// The major of the block driver 'driver' in the text of /proc/devices, if listed.
std::optional<unsigned> block_major(std::string_view proc_devices, std::string_view driver);

// Throws ENOTBLK if st is not a block device, ENOENT if bsnap has no block
// major (module not loaded), EINVAL if the device is not bsnap's or its minor
// is not in snapshot mode, or the errno of the info call.
snapshot_identity
identify_bsnap_snapshot(const std::string& path, const struct stat& st,
                        const std::filesystem::path& proc_devices = proc_devices_path);

} // namespace bsnap::upd
