#include "bsnap/uuid.hpp"

#include <algorithm>

namespace bsnap {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool dash_position(std::size_t i) {
    return i == 8 || i == 13 || i == 18 || i == 23;
}

} // namespace

std::string format_uuid(const uuid& id) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string text;
    text.reserve(36);
    for (std::size_t i = 0; i < id.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            text += '-';
        text += digits[id[i] >> 4];
        text += digits[id[i] & 0xf];
    }
    return text;
}

std::optional<uuid> parse_uuid(std::string_view text) {
    std::string hex;
    if (text.size() == 36) {
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (dash_position(i) != (text[i] == '-'))
                return std::nullopt;
            if (!dash_position(i))
                hex += text[i];
        }
    } else if (text.size() == 32) {
        hex = text;
    } else {
        return std::nullopt;
    }
    uuid id{};
    for (std::size_t i = 0; i < id.size(); ++i) {
        int high = hex_value(hex[2 * i]);
        int low = hex_value(hex[2 * i + 1]);
        if (high < 0 || low < 0)
            return std::nullopt;
        id[i] = static_cast<std::uint8_t>(high << 4 | low);
    }
    return id;
}

bool is_nil(const uuid& id) {
    return std::all_of(id.begin(), id.end(), [](std::uint8_t b) { return b == 0; });
}

} // namespace bsnap
