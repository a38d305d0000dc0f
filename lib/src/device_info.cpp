#include "bsnap/device_info.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace bsnap {

namespace {

template <std::size_t N>
std::string bounded_string(const char (&buffer)[N]) {
    return std::string(buffer, ::strnlen(buffer, N));
}

} // namespace

device_info to_device_info(const bsnap_info& raw) {
    device_info info;
    info.minor = raw.minor;
    info.state = raw.state;
    info.error = raw.error == INT32_MIN ? INT32_MAX : std::abs(raw.error);
    info.bdev_path = bounded_string(raw.bdev_path);
    info.cow_path = bounded_string(raw.cow_path);
    info.cache_size = raw.cache_size;
    info.falloc_size = raw.falloc_size;
    info.cow_used_bytes = raw.cow_used_bytes;
    info.cow_free_bytes = raw.cow_free_bytes;
    info.cow_data_bytes = raw.cow_data_bytes;
    info.seqid = raw.seqid;
    std::copy(std::begin(raw.uuid), std::end(raw.uuid), info.uuid.begin());
    info.device_sectors = raw.device_sectors;
    info.changed_blocks = raw.changed_blocks;
    info.block_size = raw.block_size;
    info.ignore_errors = (raw.flags & BSNAP_FLAG_IGNORE_ERRORS) != 0;
    return info;
}

} // namespace bsnap
