#include "bsnap/refusals.hpp"

#include "bsnap/cow_location.hpp"
#include "bsnap/errors.hpp"
#include "bsnap/proc_info.hpp"

#include <cerrno>
#include <filesystem>
#include <sys/stat.h>

namespace bsnap {

namespace {

std::string minor_text(unsigned minor) {
    return "minor " + std::to_string(minor);
}

const device_info* by_minor(const refusal_facts& f) {
    for (const auto& d : f.devices)
        if (d.minor == f.minor)
            return &d;
    return nullptr;
}

const device_info* by_bdev(const refusal_facts& f) {
    if (f.bdev.empty())
        return nullptr;
    for (const auto& d : f.devices)
        if (d.bdev_path == f.bdev)
            return &d;
    return nullptr;
}

std::string stored_error(const device_info& d) {
    std::string name = errno_name(d.error);
    return (name.empty() ? "errno " + std::to_string(d.error) : name) + ", " + errno_text(d.error);
}

// A failed device refuses every snapshot, with the errno it failed with.
std::string failed_device(const device_info& d) {
    return minor_text(d.minor) + " (" + d.bdev_path + ") failed earlier (" + stored_error(d) +
           "): its change tracking can no longer be trusted, so it yields no snapshot or "
           "incremental; destroy " +
           minor_text(d.minor) + " and start a new chain with setup-snapshot and a full backup";
}

std::optional<std::string> explain_setup(int err, const refusal_facts& f) {
    switch (err) {
    case EBUSY:
        if (const device_info* d = by_bdev(f))
            return f.bdev + " is traced already, by " + minor_text(d->minor) + ": destroy " +
                   minor_text(d->minor) + " first, or take the next snapshot with " +
                   "transition-to-snapshot " + std::to_string(d->minor);
        if (const device_info* d = by_minor(f))
            return minor_text(f.minor) + " is in use (by " + d->bdev_path +
                   "): pick a free one (bsnapctl get-free-minor)";
        return f.bdev + " is busy: a partition of its disk, or the disk of a partition, is " +
               "traced already (bsnapctl status)";
    case ENODEV:
        return f.bdev + " is not mounted: setup-snapshot needs its filesystem mounted " +
               "read-write (after a reboot, reload-snapshot or reload-incremental take an " +
               "unmounted device)";
    case EROFS:
        return f.bdev + " is mounted read-only: remount it read-write first";
    case EXDEV:
        return "the CoW file " + f.cow + " is not on " + f.bdev +
               "'s filesystem: put it on the traced filesystem";
    case EEXIST:
        return "the CoW file " + f.cow + " exists already: give a new file's path";
    default:
        return std::nullopt;
    }
}

std::optional<std::string> explain_on_device(int err, const refusal_facts& f) {
    const device_info* d = by_minor(f);
    if (err == ENOENT && !d)
        return minor_text(f.minor) + " is not traced (bsnapctl status lists the traced devices)";
    if (!d)
        return std::nullopt;
    device_state state = d->decoded_state();
    bool to_snapshot = f.operation == "transition-to-snapshot";
    if (to_snapshot && state.failed)
        return failed_device(*d);
    if (to_snapshot && err == EINVAL && state.mode == device_mode::snapshot)
        return minor_text(f.minor) + " is a snapshot already: transition-to-incremental " +
               std::to_string(f.minor) + " first";
    if (to_snapshot && err == EINVAL && state.activity != device_activity::active)
        return minor_text(f.minor) + " (" + d->bdev_path + ") is " + to_string(state.activity) +
               ": a snapshot needs its filesystem mounted read-write";
    if (to_snapshot && err == EXDEV)
        return "the CoW file " + f.cow + " is not on " + d->bdev_path +
               "'s filesystem: put it on the traced filesystem";
    if (f.operation == "transition-to-incremental" && err == EINVAL) {
        if (state.failed)
            return failed_device(*d);
        if (state.mode == device_mode::incremental)
            return minor_text(f.minor) + " is incremental already";
    }
    return std::nullopt;
}

} // namespace

std::optional<std::string> explain_refusal(int err, const refusal_facts& f) {
    if (f.operation == "setup-snapshot")
        return explain_setup(err, f);
    if (f.operation == "reload-snapshot" || f.operation == "reload-incremental") {
        if (err != EBUSY)
            return std::nullopt;
        if (by_bdev(f) || by_minor(f))
            return explain_setup(err, f);
        return f.bdev + " is mounted: reload takes a device before its filesystem is " +
               "mounted (after a reboot); a mounted one needs setup-snapshot";
    }
    return explain_on_device(err, f);
}

std::string left_in_place_note(const device_info& d) {
    return minor_text(d.minor) + " was " + to_string(d.decoded_state().activity) +
           ": its CoW file " + d.cow_path +
           " is left in place, marked not clean (no reload trusts it); delete it once " +
           d.bdev_path + " is mounted";
}

std::optional<device_info> device_using_cow_file(const std::string& path,
                                                 const std::vector<device_info>& devices) {
    struct stat file;
    if (::stat(path.c_str(), &file) < 0)
        return std::nullopt;
    for (const device_info& d : devices) {
        if (d.cow_path.empty())
            continue;
        std::filesystem::path cow = d.cow_path;
        if (cow.is_relative()) {
            try {
                cow = locate_cow_file(d);
            } catch (const std::exception&) {
                continue; // not mounted: not this file
            }
        }
        struct stat st;
        if (::stat(cow.c_str(), &st) == 0 && st.st_dev == file.st_dev && st.st_ino == file.st_ino)
            return d;
    }
    return std::nullopt;
}

std::string in_use_refusal(const std::string& path, const device_info& d) {
    return "CoW file " + path + " is in use by " + minor_text(d.minor) + " (" + d.bdev_path +
           "): run transition-to-snapshot " + std::to_string(d.minor) +
           " first; then it holds the changes up to the new snapshot";
}

void refuse_cow_file_in_use(const std::string& path) {
    std::optional<std::vector<device_info>> devices = traced_devices();
    if (!devices)
        return;
    if (std::optional<device_info> user = device_using_cow_file(path, *devices))
        throw errno_error(EBUSY, in_use_refusal(path, *user));
}

std::optional<std::vector<device_info>> traced_devices() {
    try {
        return read_proc_info().devices;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

} // namespace bsnap
