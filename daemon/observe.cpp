#include "observe.hpp"

#include "log.hpp"
#include "mount_table.hpp"

#include <bsnap/proc_info.hpp>
#include <fstream>
#include <sys/stat.h>

namespace bsnap::daemon {

std::string module_instance(const system_paths& paths) {
    struct stat st {};
    if (::stat(paths.module_dir.c_str(), &st) < 0)
        return "";
    std::string boot_id;
    std::ifstream(paths.boot_id) >> boot_id;
    return boot_id + "/" + std::to_string(st.st_ino);
}

observation observe(const system_paths& paths, device_resolver& resolver) {
    observation now;
    proc_info info;
    try {
        info = read_proc_info(paths.proc_info);
    } catch (const std::system_error& e) {
        if (e.code() == std::errc::no_such_file_or_directory)
            return now; // module not loaded
        throw;
    }
    now.module_loaded = true;
    now.module_instance = module_instance(paths);
    mount_table mounts = read_mount_table(paths.mountinfo);
    std::optional<dev_t> root = root_device(mounts);
    for (auto& device : info.devices) {
        observed_device seen;
        seen.info = std::move(device);
        try {
            seen.identity = resolver.identify(seen.info.bdev_path);
        } catch (const std::exception& e) {
            log_warning("minor " + std::to_string(seen.info.minor) +
                        ": cannot read the identity of " + seen.info.bdev_path + ": " + e.what());
        }
        if (auto devno = block_devno(seen.info.bdev_path)) {
            seen.mount_points = mount_points(mounts, *devno);
            seen.is_root = root && *root == *devno;
        }
        now.devices.push_back(std::move(seen));
    }
    return now;
}

} // namespace bsnap::daemon
