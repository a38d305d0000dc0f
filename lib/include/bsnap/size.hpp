// Sizes on the command line ("-c 64M", "-f 1024") and in human output.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace bsnap {

inline constexpr std::uint64_t kib = 1024;
inline constexpr std::uint64_t mib = 1024 * kib;

// A size that does not parse; what() says why, quoting the text.
class size_error : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

// Parses a non-negative integer with an optional unit: K, M, G, T, P, E
// (powers of 1024, any case, optionally followed by "B" or "iB"), or "B" for
// bytes. A bare number counts in default_unit bytes (1 for -c; mib for -f,
// which elastio's tools take in MB). Returns bytes; throws size_error.
std::uint64_t parse_size(std::string_view text, std::uint64_t default_unit = 1);

// "512 B", "64 MiB", "1.5 GiB" (one decimal when not exact).
std::string format_size(std::uint64_t bytes);

} // namespace bsnap
