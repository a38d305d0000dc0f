#include "status.hpp"

#include <algorithm>
#include <array>
#include <bsnap/device_state.hpp>
#include <bsnap/size.hpp>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <system_error>
#include <vector>

namespace bsnap::ctl {

namespace {

constexpr std::size_t columns = 8;
using row = std::array<std::string, columns>;

const row header = {"MINOR",    "DEVICE",        "STATE",   "MODE",
                    "COW FILE", "COW USED/SIZE", "CHANGED", "ERROR"};

std::string state_cell(const device_state& state) {
    std::string text = to_string(state.activity);
    if (state.failed)
        text += " failed";
    return text;
}

std::string error_cell(int error) {
    if (error == 0)
        return "-";
    return std::generic_category().message(error) + " (errno " + std::to_string(error) + ")";
}

std::uint64_t changed_bytes(const device_info& device) {
    return device.changed_blocks * device.block_size;
}

row device_row(const device_info& device) {
    device_state state = device.decoded_state();
    std::string changed = std::to_string(device.changed_blocks);
    if (device.changed_blocks != 0 && device.block_size != 0)
        changed += " (" + format_size(changed_bytes(device)) + ")";
    return {std::to_string(device.minor),
            device.bdev_path,
            state_cell(state),
            to_string(state.mode),
            device.cow_path,
            format_size(device.cow_used_bytes) + " / " + format_size(device.falloc_size),
            changed,
            error_cell(device.error)};
}

} // namespace

std::string status_table(const proc_info& info) {
    if (info.devices.empty())
        return "no traced devices\n";
    std::vector<row> rows{header};
    for (const auto& device : info.devices)
        rows.push_back(device_row(device));
    std::array<std::size_t, columns> width{};
    for (const auto& r : rows)
        for (std::size_t c = 0; c < columns; ++c)
            width[c] = std::max(width[c], r[c].size());
    std::string text;
    for (const auto& r : rows) {
        std::string line;
        for (std::size_t c = 0; c < columns; ++c) {
            line += r[c];
            if (c + 1 < columns)
                line.append(width[c] - r[c].size() + 2, ' ');
        }
        text += line + "\n";
    }
    return text;
}

nlohmann::json status_json(const proc_info& info) {
    return info;
}

} // namespace bsnap::ctl
