#include "mount_table.hpp"

#include <bsnap/errors.hpp>
#include <cerrno>
#include <libmount/libmount.h>
#include <memory>
#include <sys/stat.h>

namespace bsnap::daemon {

namespace {

struct table_deleter {
    void operator()(libmnt_table* t) const { mnt_unref_table(t); }
};
struct iter_deleter {
    void operator()(libmnt_iter* i) const { mnt_free_iter(i); }
};

} // namespace

mount_table read_mount_table(const std::filesystem::path& mountinfo) {
    std::unique_ptr<libmnt_table, table_deleter> table(mnt_new_table());
    if (!table)
        throw errno_error(ENOMEM, "read " + mountinfo.string());
    int rc = mnt_table_parse_file(table.get(), mountinfo.c_str());
    if (rc != 0)
        throw errno_error(rc < 0 ? -rc : EIO, "read " + mountinfo.string());
    std::unique_ptr<libmnt_iter, iter_deleter> iter(mnt_new_iter(MNT_ITER_FORWARD));
    if (!iter)
        throw errno_error(ENOMEM, "read " + mountinfo.string());
    mount_table mounts;
    libmnt_fs* fs = nullptr;
    while (mnt_table_next_fs(table.get(), iter.get(), &fs) == 0) {
        const char* target = mnt_fs_get_target(fs);
        const char* root = mnt_fs_get_root(fs);
        const char* options = mnt_fs_get_vfs_options(fs);
        mount_entry entry;
        entry.devno = mnt_fs_get_devno(fs);
        entry.target = target ? target : "";
        entry.root = root ? root : "/";
        entry.read_only = options && mnt_optstr_get_option(options, "ro", nullptr, nullptr) == 0;
        mounts.push_back(std::move(entry));
    }
    return mounts;
}

std::vector<std::string> mount_points(const mount_table& mounts, dev_t devno) {
    std::vector<std::string> points;
    for (const auto& m : mounts)
        if (m.devno == devno && m.root == "/")
            points.push_back(m.target);
    return points;
}

std::optional<dev_t> root_device(const mount_table& mounts) {
    std::optional<dev_t> root;
    for (const auto& m : mounts)
        if (m.target == "/")
            root = m.devno;
    return root;
}

std::optional<std::string> relative_cow_path(const std::string& cow,
                                             const std::vector<std::string>& mount_points) {
    if (cow.empty())
        return std::nullopt;
    if (cow.front() != '/')
        return cow;
    // The longest mount point that is a directory prefix of the path.
    std::optional<std::string> best;
    std::size_t best_length = 0;
    for (const auto& point : mount_points) {
        std::string prefix = point == "/" ? "/" : point + "/";
        if (cow.size() > prefix.size() && cow.compare(0, prefix.size(), prefix) == 0 &&
            (!best || prefix.size() > best_length)) {
            best = cow.substr(prefix.size());
            best_length = prefix.size();
        }
    }
    if (best) {
        auto start = best->find_first_not_of('/');
        if (start == std::string::npos)
            return std::nullopt;
        best->erase(0, start);
    }
    return best;
}

std::optional<dev_t> block_devno(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) < 0 || !S_ISBLK(st.st_mode))
        return std::nullopt;
    return st.st_rdev;
}

} // namespace bsnap::daemon
