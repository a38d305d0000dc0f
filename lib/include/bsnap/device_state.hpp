// The state of a traced device, decoded from the BSNAP_STATE_* bits.
//
// Mode: snapshot or incremental. Activity: active (mounted rw), dormant
// (unmounted or ro) or unverified (reloaded, CoW header not yet checked).
// Failed: an error is stored (info's 'error'); the mode keeps its meaning.
#pragma once

#include <cstdint>
#include <string>

namespace bsnap {

enum class device_mode { incremental, snapshot };
enum class device_activity { dormant, active, unverified };

struct device_state {
    device_mode mode = device_mode::incremental;
    device_activity activity = device_activity::dormant;
    bool failed = false;
    std::uint32_t unknown_bits = 0; // bits this build does not know

    bool operator==(const device_state&) const = default;
};

// Unverified wins over active if a module ever reports both.
device_state decode_state(std::uint32_t bits);
std::uint32_t encode_state(const device_state& state);

const char* to_string(device_mode mode);         // "snapshot", "incremental"
const char* to_string(device_activity activity); // "active", "dormant", "unverified"

// "active snapshot", "dormant incremental", "failed unverified snapshot",
// "active snapshot (unknown state bits 0x30)".
std::string describe_state(const device_state& state);
std::string describe_state(std::uint32_t bits);

} // namespace bsnap
