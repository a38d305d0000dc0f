#include "bsnap/device_state.hpp"

#include <cstdio>
#include <uapi/bsnap.h>

namespace bsnap {

namespace {
constexpr std::uint32_t known_bits =
    BSNAP_STATE_SNAPSHOT | BSNAP_STATE_ACTIVE | BSNAP_STATE_UNVERIFIED | BSNAP_STATE_FAILED;
}

device_state decode_state(std::uint32_t bits) {
    device_state state;
    state.mode = (bits & BSNAP_STATE_SNAPSHOT) ? device_mode::snapshot : device_mode::incremental;
    if (bits & BSNAP_STATE_UNVERIFIED)
        state.activity = device_activity::unverified;
    else if (bits & BSNAP_STATE_ACTIVE)
        state.activity = device_activity::active;
    state.failed = (bits & BSNAP_STATE_FAILED) != 0;
    state.unknown_bits = bits & ~known_bits;
    return state;
}

std::uint32_t encode_state(const device_state& state) {
    std::uint32_t bits = state.unknown_bits;
    if (state.mode == device_mode::snapshot)
        bits |= BSNAP_STATE_SNAPSHOT;
    if (state.activity == device_activity::active)
        bits |= BSNAP_STATE_ACTIVE;
    if (state.activity == device_activity::unverified)
        bits |= BSNAP_STATE_UNVERIFIED;
    if (state.failed)
        bits |= BSNAP_STATE_FAILED;
    return bits;
}

const char* to_string(device_mode mode) {
    return mode == device_mode::snapshot ? "snapshot" : "incremental";
}

const char* to_string(device_activity activity) {
    switch (activity) {
    case device_activity::active:
        return "active";
    case device_activity::unverified:
        return "unverified";
    case device_activity::dormant:
        break;
    }
    return "dormant";
}

std::string describe_state(const device_state& state) {
    std::string text = state.failed ? "failed " : "";
    text += to_string(state.activity);
    text += ' ';
    text += to_string(state.mode);
    if (state.unknown_bits != 0) {
        char hex[32];
        std::snprintf(hex, sizeof hex, "%#x", state.unknown_bits);
        text += " (unknown state bits ";
        text += hex;
        text += ')';
    }
    return text;
}

std::string describe_state(std::uint32_t bits) {
    return describe_state(decode_state(bits));
}

} // namespace bsnap
