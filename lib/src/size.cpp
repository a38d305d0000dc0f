#include "bsnap/size.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>

namespace bsnap {

namespace {

[[noreturn]] void fail(std::string_view text, const std::string& why) {
    throw size_error("invalid size '" + std::string(text) + "': " + why);
}

// The multiplier of a unit suffix, or 0 if the suffix is not a unit.
std::uint64_t unit_multiplier(std::string_view suffix) {
    if (suffix == "B" || suffix == "b")
        return 1;
    static constexpr std::string_view letters = "KMGTPE";
    auto upper = static_cast<char>(std::toupper(static_cast<unsigned char>(suffix[0])));
    auto index = letters.find(upper);
    if (index == std::string_view::npos)
        return 0;
    auto rest = suffix.substr(1);
    if (!(rest.empty() || rest == "B" || rest == "b" || rest == "iB" || rest == "ib" ||
          rest == "IB"))
        return 0;
    return std::uint64_t{1} << (10 * (index + 1));
}

} // namespace

std::uint64_t parse_size(std::string_view text, std::uint64_t default_unit) {
    if (text.empty())
        fail(text, "empty");
    std::uint64_t number = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (end == text.data())
        fail(text, "expected a non-negative integer, optionally followed by K, M, G or T");
    if (ec == std::errc::result_out_of_range)
        fail(text, "too large");
    std::string_view suffix(end, static_cast<std::size_t>(text.data() + text.size() - end));
    std::uint64_t multiplier = default_unit;
    if (!suffix.empty()) {
        multiplier = unit_multiplier(suffix);
        if (multiplier == 0)
            fail(text, "unknown unit '" + std::string(suffix) + "' (use K, M, G or T)");
    }
    if (multiplier != 0 && number > UINT64_MAX / multiplier)
        fail(text, "too large");
    return number * multiplier;
}

std::string format_size(std::uint64_t bytes) {
    static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    std::size_t unit = 0;
    while (unit + 1 < std::size(units) && bytes >= (std::uint64_t{1} << (10 * (unit + 1))))
        ++unit;
    std::uint64_t scale = std::uint64_t{1} << (10 * unit);
    std::uint64_t whole = bytes / scale;
    std::uint64_t remainder = bytes % scale;
    char text[48];
    if (remainder == 0) {
        std::snprintf(text, sizeof text, "%llu %s", static_cast<unsigned long long>(whole),
                      units[unit]);
        return text;
    }
    // One decimal, rounded half up; remainder * 10 cannot overflow (scale <= 2^60).
    std::uint64_t tenths = (remainder * 10 + scale / 2) / scale;
    if (tenths == 10) {
        ++whole;
        tenths = 0;
    }
    if (whole == 1024 && unit + 1 < std::size(units)) {
        whole = 1;
        ++unit;
    }
    std::snprintf(text, sizeof text, "%llu.%llu %s", static_cast<unsigned long long>(whole),
                  static_cast<unsigned long long>(tenths), units[unit]);
    return text;
}

} // namespace bsnap
