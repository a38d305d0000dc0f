// /proc/bsnap-info: the module's version and its traced devices, as JSON:
//   {"format_version": 1, "version": "0.1.0", "abi_version": 1,
//    "events_dropped": 0, "devices": [ {device entry}, ... ]}
// Device entries use the keys of device_info_json.hpp. Unknown keys are
// ignored at every level, so the module can add fields without breaking tools.
#pragma once

#include "bsnap/device_info.hpp"

#include <cstdint>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace bsnap {

inline constexpr const char* proc_info_path = "/proc/" BSNAP_PROC_NAME;

// The version of docs/bsnap-info.schema.json that to_json() writes.
inline constexpr unsigned info_format_version = 1;

struct proc_info {
    std::string version;              // the module's version
    std::uint32_t abi_version = 0;    // 0 if the file does not say
    std::uint64_t events_dropped = 0; // uevents the module could not send
    std::vector<device_info> devices;

    bool operator==(const proc_info&) const = default;
};

// Throws format_error "<source>: <problem>" on malformed JSON, a missing or
// mistyped "version" or "devices", a mistyped "abi_version", or a bad device
// entry.
proc_info parse_proc_info(std::string_view text, const std::string& source = proc_info_path);

// Reads and parses the file. A missing file throws ENOENT "bsnap module not
// loaded (no <path>)"; other read errors name the path.
proc_info read_proc_info(const std::filesystem::path& path = proc_info_path);

// {"format_version": 1, "version": ..., "abi_version": ...,
// "events_dropped": ..., "devices": [...]}, devices as in
// device_info_json.hpp: a document of docs/bsnap-info.schema.json.
void to_json(nlohmann::json& j, const proc_info& info);

// One device as `bsnapctl info MINOR --json` prints it: the device object
// with "format_version".
nlohmann::json device_document(const device_info& info);

// "bsnap module 0.1.0 (ABI 1): 2 devices", then each device's text after a
// blank line.
std::string to_text(const proc_info& info);

} // namespace bsnap
