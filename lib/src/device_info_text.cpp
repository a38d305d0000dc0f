#include "bsnap/device_info_text.hpp"

#include "bsnap/size.hpp"

#include <system_error>

namespace bsnap {

namespace {

void line(std::string& text, const char* name, const std::string& value) {
    text += "  ";
    text += name;
    text += ':';
    text.append(15 - std::char_traits<char>::length(name), ' ');
    text += value;
    text += '\n';
}

std::string or_default(std::uint64_t bytes) {
    return bytes == 0 ? "module default" : format_size(bytes);
}

} // namespace

std::string describe_error(int error) {
    if (error == 0)
        return "none";
    return std::generic_category().message(error) + " (errno " + std::to_string(error) + ")";
}

std::string to_text(const device_info& info) {
    std::string text =
        "minor " + std::to_string(info.minor) + ": " + describe_state(info.state) + "\n";
    line(text, "block device", info.bdev_path);
    line(text, "device size",
         format_size(info.device_bytes()) + " (" + std::to_string(info.device_sectors) +
             " sectors)");
    line(text, "cow file", info.cow_path);
    line(text, "cow allocated", format_size(info.falloc_size));
    line(text, "cow used", format_size(info.cow_used_bytes));
    line(text, "cache size", or_default(info.cache_size));
    line(text, "block size", format_size(info.block_size));
    line(text, "changed blocks", std::to_string(info.changed_blocks));
    line(text, "seqid", std::to_string(info.seqid));
    line(text, "chain uuid", format_uuid(info.uuid));
    line(text, "error", describe_error(info.error));
    if (info.ignore_errors)
        line(text, "on failure", "the image stays readable (-i)");
    return text;
}

} // namespace bsnap
