#include "bsnap/proc_info.hpp"

#include "bsnap/device_info_json.hpp"
#include "bsnap/device_info_text.hpp"
#include "bsnap/errors.hpp"
#include "bsnap/unique_fd.hpp"

#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace bsnap {

namespace {

using nlohmann::json;

// nlohmann's messages start with "[json.exception.parse_error.101] ".
std::string without_exception_id(const char* what) {
    std::string text = what;
    if (!text.empty() && text.front() == '[') {
        auto end = text.find("] ");
        if (end != std::string::npos)
            text.erase(0, end + 2);
    }
    return text;
}

// Reads a whole file with read(2): /proc files report size 0, so no stat.
std::string read_file(const std::filesystem::path& path) {
    unique_fd fd = open_fd(path, O_RDONLY);
    std::string data;
    char buffer[16384];
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno("read " + path.string());
        if (n == 0)
            return data;
        data.append(buffer, static_cast<std::size_t>(n));
    }
}

} // namespace

proc_info parse_proc_info(std::string_view text, const std::string& source) {
    json document;
    try {
        document = json::parse(text);
    } catch (const json::parse_error& e) {
        throw format_error(source + ": malformed JSON: " + without_exception_id(e.what()));
    }
    if (!document.is_object())
        throw format_error(source + ": expected a JSON object, got " + document.type_name());

    proc_info info;
    auto version = document.find("version");
    if (version == document.end())
        throw format_error(source + ": missing \"version\"");
    if (!version->is_string())
        throw format_error(source + ": \"version\" is a " + version->type_name() +
                           ", expected a string");
    info.version = version->get<std::string>();

    auto abi = document.find("abi_version");
    if (abi != document.end()) {
        if (!abi->is_number_unsigned() || abi->get<std::uint64_t>() > UINT32_MAX)
            throw format_error(source + ": \"abi_version\" is " + abi->dump() +
                               ", expected an unsigned 32-bit integer");
        info.abi_version = abi->get<std::uint32_t>();
    }

    auto dropped = document.find("events_dropped");
    if (dropped != document.end()) {
        if (!dropped->is_number_unsigned())
            throw format_error(source + ": \"events_dropped\" is " + dropped->dump() +
                               ", expected an unsigned integer");
        info.events_dropped = dropped->get<std::uint64_t>();
    }

    auto devices = document.find("devices");
    if (devices == document.end())
        throw format_error(source + ": missing \"devices\"");
    if (!devices->is_array())
        throw format_error(source + ": \"devices\" is a " + devices->type_name() +
                           ", expected an array");
    for (std::size_t i = 0; i < devices->size(); ++i)
        info.devices.push_back(
            device_info_from_json((*devices)[i], source + ": devices[" + std::to_string(i) + "]"));
    return info;
}

proc_info read_proc_info(const std::filesystem::path& path) {
    std::string text;
    try {
        text = read_file(path);
    } catch (const std::system_error& e) {
        if (e.code() == std::errc::no_such_file_or_directory)
            throw errno_error(ENOENT, "bsnap module not loaded (no " + path.string() + ")");
        throw;
    }
    return parse_proc_info(text, path.string());
}

void to_json(json& j, const proc_info& info) {
    j = json{{"format_version", info_format_version},
             {"version", info.version},
             {"abi_version", info.abi_version},
             {"events_dropped", info.events_dropped},
             {"devices", info.devices}};
}

json device_document(const device_info& info) {
    json j = info;
    j["format_version"] = info_format_version;
    return j;
}

std::string to_text(const proc_info& info) {
    std::size_t count = info.devices.size();
    std::string text = "bsnap module " + info.version;
    if (info.abi_version != 0)
        text += " (ABI " + std::to_string(info.abi_version) + ")";
    text += ": ";
    text += count == 0   ? std::string("no devices")
            : count == 1 ? std::string("1 device")
                         : std::to_string(count) + " devices";
    text += '\n';
    for (const auto& device : info.devices)
        text += "\n" + to_text(device);
    return text;
}

} // namespace bsnap
