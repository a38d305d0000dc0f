#include "bsnap/detached_mount.hpp"

#include "bsnap/errors.hpp"

#include <blkid/blkid.h>
#include <cerrno>
#include <fcntl.h>
#include <features.h>
#include <memory>
#include <unistd.h>

// glibc 2.36 wraps the new mount API in <sys/mount.h> (which then cannot be
// included together with <linux/mount.h>); older ones do not.
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 36)) &&          \
    !defined(BSNAP_MOUNT_API_SYSCALLS)
#include <sys/mount.h>
#else
#include <linux/mount.h>
#include <sys/syscall.h>

namespace {

int fsopen(const char* fs_name, unsigned int flags) {
    return static_cast<int>(::syscall(SYS_fsopen, fs_name, flags));
}

int fsconfig(int fd, unsigned int cmd, const char* key, const void* value, int aux) {
    return static_cast<int>(::syscall(SYS_fsconfig, fd, cmd, key, value, aux));
}

int fsmount(int fd, unsigned int flags, unsigned int attr_flags) {
    return static_cast<int>(::syscall(SYS_fsmount, fd, flags, attr_flags));
}

} // namespace
#endif

namespace bsnap {

namespace {

struct probe_deleter {
    void operator()(blkid_probe p) const { blkid_free_probe(p); }
};

using unique_probe = std::unique_ptr<std::remove_pointer_t<blkid_probe>, probe_deleter>;

// What the kernel said about a failed fsconfig (read() on the context gives
// one "e ..." / "w ..." / "i ..." line per call until ENODATA), joined by
// "; ", or "" if nothing.
std::string kernel_messages(int fs_fd) {
    std::string text;
    char line[1024];
    for (int i = 0; i < 16; ++i) { // the kernel keeps at most 8
        ssize_t n = ::read(fs_fd, line, sizeof line - 1);
        if (n <= 0)
            break;
        std::string message(line, static_cast<std::size_t>(n));
        while (!message.empty() && message.back() == '\n')
            message.pop_back();
        text += (text.empty() ? "" : "; ") + message;
    }
    return text;
}

} // namespace

std::string probe_filesystem_type(const std::filesystem::path& device) {
    errno = 0;
    unique_probe probe(blkid_new_probe_from_filename(device.c_str()));
    if (!probe)
        throw errno_error(errno != 0 ? errno : EIO, "probe " + device.string());
    blkid_probe_enable_superblocks(probe.get(), 1);
    blkid_probe_set_superblocks_flags(probe.get(), BLKID_SUBLKS_TYPE);
    // 0: found, 1: nothing, -2: ambiguous, -1: error.
    int result = blkid_do_safeprobe(probe.get());
    if (result == -1)
        throw errno_error(errno != 0 ? errno : EIO, "probe " + device.string());
    const char* type = nullptr;
    if (result != 0 || blkid_probe_lookup_value(probe.get(), "TYPE", &type, nullptr) != 0 || !type)
        return "";
    return type;
}

std::vector<std::string> read_only_mount_flags(const std::string& fs_type,
                                               const std::string& what) {
    if (fs_type == "ext4")
        return {"noload"};
    if (fs_type == "xfs")
        return {"norecovery", "nouuid"};
    throw errno_error(
        ENOTSUP, what + ": CoW file growth is not supported on " +
                     (fs_type.empty() ? "an unknown filesystem" : "a " + fs_type + " filesystem") +
                     " (it needs FS_IOC_GETFSMAP: ext4 or xfs)");
}

detached_mount::detached_mount(const std::filesystem::path& device, const std::string& fs_type) {
    const std::string what = "mount " + device.string() + " (" + fs_type + ")";
    std::vector<std::string> flags = read_only_mount_flags(fs_type, device.string());

    unique_fd fs(fsopen(fs_type.c_str(), FSOPEN_CLOEXEC));
    if (!fs)
        throw_errno(what + ": fsopen");
    auto configure = [&](unsigned int cmd, const char* key, const char* value,
                         const std::string& step) {
        if (fsconfig(fs.get(), cmd, key, value, 0) == 0)
            return;
        int err = errno;
        std::string said = kernel_messages(fs.get());
        throw errno_error(err, what + ": " + step + (said.empty() ? "" : ": " + said));
    };
    configure(FSCONFIG_SET_STRING, "source", device.c_str(), "source");
    configure(FSCONFIG_SET_FLAG, "ro", nullptr, "ro");
    for (const std::string& flag : flags)
        configure(FSCONFIG_SET_FLAG, flag.c_str(), nullptr, flag);
    configure(FSCONFIG_CMD_CREATE, nullptr, nullptr, "create");

    mount_.reset(fsmount(fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY));
    if (!mount_) {
        int err = errno;
        std::string said = kernel_messages(fs.get());
        throw errno_error(err, what + ": fsmount" + (said.empty() ? "" : ": " + said));
    }
    // fsmount() gives an O_PATH descriptor, which ioctl() refuses.
    int root = ::openat(mount_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        throw_errno(what + ": open its root");
    root_.reset(root);
}

} // namespace bsnap
