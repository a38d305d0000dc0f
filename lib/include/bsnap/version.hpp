// Versions known at build time.
#pragma once

#include <cstdint>
#include <string_view>
#include <uapi/bsnap.h>

namespace bsnap {

// The userspace tools' version (the CMake project version).
std::string_view tool_version();

// The ioctl ABI this build speaks.
inline constexpr std::uint32_t abi_version = BSNAP_ABI_VERSION;

} // namespace bsnap
