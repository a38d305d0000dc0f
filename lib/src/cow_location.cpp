#include "bsnap/cow_location.hpp"

#include "bsnap/errors.hpp"

#include <cerrno>
#include <cstdio>
#include <memory>
#include <mntent.h>
#include <sys/stat.h>

namespace bsnap {

namespace {

struct mntent_closer {
    void operator()(FILE* f) const { ::endmntent(f); }
};

} // namespace

std::optional<std::filesystem::path> find_under_mounts(const std::filesystem::path& relative,
                                                       dev_t device,
                                                       const std::filesystem::path& mounts) {
    std::unique_ptr<FILE, mntent_closer> file(::setmntent(mounts.c_str(), "re"));
    if (!file)
        throw_errno("read " + mounts.string());
    struct mntent entry;
    char buffer[4096];
    while (::getmntent_r(file.get(), &entry, buffer, sizeof buffer)) {
        std::filesystem::path candidate = std::filesystem::path(entry.mnt_dir) / relative;
        struct stat st;
        // On the device: not a namesake on another filesystem mounted over
        // the directory.
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == device)
            return candidate;
    }
    return std::nullopt;
}

std::filesystem::path locate_cow_file(const device_info& info,
                                      const std::filesystem::path& mounts) {
    std::filesystem::path cow = info.cow_path;
    if (cow.is_absolute())
        return cow;
    const std::string what = "CoW file " + info.cow_path + " of " + info.bdev_path;
    struct stat st;
    if (::stat(info.bdev_path.c_str(), &st) < 0)
        throw_errno(what + ": stat " + info.bdev_path);
    if (!S_ISBLK(st.st_mode))
        throw errno_error(ENOTBLK, what);
    if (auto found = find_under_mounts(cow, st.st_rdev, mounts))
        return *found;
    throw errno_error(ENOENT, what + ": not found under any mount point of it");
}

} // namespace bsnap
