#include "snapshot_device.hpp"

#include <bsnap/control_device.hpp>
#include <bsnap/device_state.hpp>
#include <bsnap/errors.hpp>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <uapi/bsnap.h>

namespace bsnap::upd {

std::optional<unsigned> block_major(std::string_view proc_devices, std::string_view driver) {
    // "Character devices:\n  1 mem\n...\n\nBlock devices:\n  7 loop\n252 bsnap\n"
    bool in_block = false;
    while (!proc_devices.empty()) {
        auto eol = proc_devices.find('\n');
        std::string_view line = proc_devices.substr(0, eol);
        proc_devices.remove_prefix(eol == std::string_view::npos ? proc_devices.size() : eol + 1);
        if (line.ends_with(':')) {
            in_block = line == "Block devices:";
            continue;
        }
        if (!in_block)
            continue;
        auto first = line.find_first_not_of(' ');
        if (first == std::string_view::npos)
            continue;
        line.remove_prefix(first);
        unsigned major = 0;
        auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), major);
        if (ec != std::errc() || end == line.data() || end == line.data() + line.size() ||
            *end != ' ')
            continue;
        if (std::string_view(end + 1, line.data() + line.size() - end - 1) == driver)
            return major;
    }
    return std::nullopt;
}

snapshot_identity identify_bsnap_snapshot(const std::string& path, const struct stat& st,
                                          const std::filesystem::path& proc_devices) {
    if (!S_ISBLK(st.st_mode))
        throw errno_error(ENOTBLK, path);
    std::ifstream file(proc_devices);
    std::ostringstream text;
    text << file.rdbuf();
    if (!file)
        throw errno_error(EIO, "read " + proc_devices.string());
    std::optional<unsigned> major = block_major(text.str(), BSNAP_DEV_PREFIX);
    if (!major)
        throw errno_error(ENOENT, "bsnap module not loaded (no block driver \"" BSNAP_DEV_PREFIX
                                  "\" in " +
                                      proc_devices.string() + ")");
    if (::major(st.st_rdev) != *major)
        throw errno_error(EINVAL, path + " is not a bsnap snapshot device (major " +
                                      std::to_string(::major(st.st_rdev)) + ", bsnap's is " +
                                      std::to_string(*major) + ")");

    unsigned minor = ::minor(st.st_rdev);
    device_info info = control_device().info(minor);
    if (!(info.state & BSNAP_STATE_SNAPSHOT))
        throw errno_error(EINVAL, path + ": minor " + std::to_string(minor) +
                                      " is not a snapshot (" + describe_state(info.state) + ")");

    snapshot_identity id;
    id.name = "snapshot " + path;
    id.uuid = info.uuid;
    id.seqid = info.seqid;
    id.error = info.error;
    if (id.error == 0 && (info.state & BSNAP_STATE_FAILED))
        id.error = EIO; // failed, with no errno stored
    struct stat origin;
    if (!info.bdev_path.empty() && ::stat(info.bdev_path.c_str(), &origin) == 0 &&
        S_ISBLK(origin.st_mode))
        id.origin = origin.st_rdev;
    return id;
}

} // namespace bsnap::upd
