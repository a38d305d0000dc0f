// The 16-byte chain UUID of a CoW file chain, and its text form.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bsnap {

using uuid = std::array<std::uint8_t, 16>;

// "00112233-4455-6677-8899-aabbccddeeff" (lower case).
std::string format_uuid(const uuid& id);

// Accepts the dashed form above or 32 bare hex digits, any case.
std::optional<uuid> parse_uuid(std::string_view text);

bool is_nil(const uuid& id);

} // namespace bsnap
