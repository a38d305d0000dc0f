// What a mounted filesystem says about its device's bytes: FS_IOC_GETFSMAP
// (ext4 and xfs), as space_records (free_ranges.hpp).
#pragma once

#include "bsnap/free_ranges.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

struct fsmap;

namespace bsnap {

// The kernel's new_encode_dev(): how GETFSMAP names a device in fmr_device
// (for majors below 4096 and minors below 2^20, the low 32 bits of glibc's
// dev_t).
std::uint32_t fsmap_device(dev_t dev);

// A record of device 'device' as a space_record (free: fmr_owner is
// FMR_OWN_FREE); nullopt for records of other devices (an external journal
// or log) and empty ones.
std::optional<space_record> to_space_record(const fsmap& record, std::uint32_t device);

// The records that GETFSMAP, on any fd of the filesystem (a directory of the
// mount), gives for bytes [start, end) of device 'device'; a record may
// reach past either end. Asks again from the last record (fsmap_advance())
// until the kernel marks one FMR_OF_LAST or a record reaches end. name: the
// filesystem, for messages. Throws std::system_error "GETFSMAP <name>: ..."
// (EOPNOTSUPP or ENOTTY where the filesystem has no GETFSMAP).
std::vector<space_record> read_space_map(int fd, std::uint32_t device, std::uint64_t start,
                                         std::uint64_t end, const std::string& name);

} // namespace bsnap
