// What the module reports about one traced device, as a plain C++ value.
// Filled from the info ioctl (to_device_info) or from a /proc/bsnap-info entry
// (device_info_from_json in device_info_json.hpp).
#pragma once

#include "bsnap/device_state.hpp"
#include "bsnap/uuid.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <uapi/bsnap.h>

namespace bsnap {

struct device_info {
    unsigned minor = 0;
    std::uint32_t state = 0; // BSNAP_STATE_* bits; decode_state() reads them
    int error = 0;           // positive errno of the first failure, 0 if none
    std::string bdev_path;
    std::string cow_path;
    std::uint64_t cache_size = 0;     // bytes
    std::uint64_t falloc_size = 0;    // bytes allocated to the CoW file
    std::uint64_t cow_used_bytes = 0; // bytes of the CoW file in use
    std::uint64_t cow_free_bytes = 0; // CoW data the file can still take (snapshot mode)
    std::uint64_t cow_data_bytes = 0; // CoW data the file holds (snapshot mode)
    std::uint64_t seqid = 0;
    bsnap::uuid uuid{};
    std::uint64_t device_sectors = 0; // 512-byte sectors of the traced device
    std::uint64_t changed_blocks = 0;
    std::uint32_t block_size = 0; // tracking granularity in bytes
    bool ignore_errors = false;   // reads of a failed snapshot do not return EIO (-i)
    // Kernel memory of the change map: /proc/bsnap-info only, not the ioctl.
    std::optional<std::uint64_t> cbt_bytes;

    device_state decoded_state() const { return decode_state(state); }
    // A snapshot whose CoW file is BSNAP_COW_LOW_PERCENT full: the module's
    // "cow-low" condition, from the same two numbers.
    bool cow_low() const {
        std::uint64_t capacity = cow_data_bytes + cow_free_bytes;
        return capacity != 0 && cow_data_bytes * 100 >= capacity * BSNAP_COW_LOW_PERCENT;
    }
    std::uint64_t device_bytes() const { return device_sectors * 512; }

    bool operator==(const device_info&) const = default;
};

// Copies the ioctl struct; the kernel's negative errno becomes positive and
// the path buffers are read up to their NUL (or their full length).
device_info to_device_info(const bsnap_info& raw);

} // namespace bsnap
