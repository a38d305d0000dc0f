#include "bsnap/control_device.hpp"

#include "bsnap/errors.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <sys/ioctl.h>
#include <vector>

namespace bsnap {

namespace {

std::uint64_t user_pointer(const std::string& text) {
    return reinterpret_cast<std::uintptr_t>(text.c_str());
}

std::string minor_context(unsigned minor) {
    return "minor " + std::to_string(minor);
}

template <typename Arg>
Arg sized() {
    Arg arg;
    std::memset(&arg, 0, sizeof arg);
    arg.size = sizeof arg;
    return arg;
}

} // namespace

control_device::control_device(const std::filesystem::path& path) : path_(path) {
    try {
        fd_ = open_fd(path, O_RDWR);
    } catch (const std::system_error& e) {
        if (e.code() == std::errc::no_such_file_or_directory)
            throw errno_error(ENOENT, "bsnap module not loaded (no " + path.string() + ")");
        throw;
    }
}

void control_device::call(unsigned long request, void* arg, const std::string& context) {
    int result;
    do {
        result = ::ioctl(fd_.get(), request, arg);
    } while (result < 0 && errno == EINTR);
    if (result < 0)
        throw_errno(context);
}

module_version control_device::version() {
    auto arg = sized<bsnap_version>();
    call(BSNAP_IOC_VERSION, &arg, path_.string());
    return {arg.abi_version, std::string(arg.version, ::strnlen(arg.version, sizeof arg.version))};
}

void control_device::setup(unsigned long request, const setup_params& params) {
    auto arg = sized<bsnap_setup>();
    arg.minor = params.minor;
    arg.flags = params.ignore_errors ? BSNAP_FLAG_IGNORE_ERRORS : 0;
    arg.cache_size = params.cache_size;
    arg.fallocate_size = params.fallocate_size;
    arg.bdev_path = user_pointer(params.bdev);
    arg.cow_path = user_pointer(params.cow);
    call(request, &arg,
         minor_context(params.minor) + " (" + params.bdev + ", cow " + params.cow + ")");
}

void control_device::setup_snapshot(const setup_params& params) {
    setup(BSNAP_IOC_SETUP_SNAPSHOT, params);
}

void control_device::reload_snapshot(const setup_params& params) {
    setup(BSNAP_IOC_RELOAD_SNAPSHOT, params);
}

void control_device::reload_incremental(const setup_params& params) {
    setup(BSNAP_IOC_RELOAD_INCREMENTAL, params);
}

void control_device::destroy(unsigned minor) {
    auto arg = sized<bsnap_minor_arg>();
    arg.minor = minor;
    call(BSNAP_IOC_DESTROY, &arg, minor_context(minor));
}

void control_device::transition_to_incremental(unsigned minor) {
    auto arg = sized<bsnap_minor_arg>();
    arg.minor = minor;
    call(BSNAP_IOC_TRANSITION_INCREMENTAL, &arg, minor_context(minor));
}

void control_device::transition_to_snapshot(unsigned minor, const std::string& cow,
                                            std::uint64_t fallocate_size) {
    auto arg = sized<bsnap_transition_snapshot>();
    arg.minor = minor;
    arg.fallocate_size = fallocate_size;
    arg.cow_path = user_pointer(cow);
    call(BSNAP_IOC_TRANSITION_SNAPSHOT, &arg, minor_context(minor) + " (cow " + cow + ")");
}

void control_device::reconfigure(unsigned minor, std::uint64_t cache_size) {
    auto arg = sized<bsnap_reconfigure>();
    arg.minor = minor;
    arg.cache_size = cache_size;
    call(BSNAP_IOC_RECONFIGURE, &arg, minor_context(minor));
}

cow_expansion control_device::expand_cow(unsigned minor, int cow_fd, std::uint64_t grow_bytes,
                                         const std::string& cow_name) {
    auto arg = sized<bsnap_expand_cow>();
    arg.minor = minor;
    arg.fd = cow_fd;
    arg.grow_bytes = grow_bytes;
    call(BSNAP_IOC_EXPAND_COW, &arg, minor_context(minor) + " (cow " + cow_name + ")");
    return {arg.grown_off, arg.file_size};
}

cow_usable control_device::add_usable_ranges(unsigned minor,
                                             std::span<const bsnap_cow_range> ranges) {
    if (ranges.size() > BSNAP_MAX_COW_RANGES)
        throw errno_error(E2BIG, minor_context(minor) + ": " + std::to_string(ranges.size()) +
                                     " usable ranges, at most " +
                                     std::to_string(BSNAP_MAX_COW_RANGES) + " per call");
    auto arg = sized<bsnap_cow_usable>();
    arg.minor = minor;
    arg.nr_ranges = static_cast<std::uint32_t>(ranges.size());
    arg.ranges = reinterpret_cast<std::uintptr_t>(ranges.data());
    call(BSNAP_IOC_COW_USABLE, &arg,
         minor_context(minor) + " (" + std::to_string(ranges.size()) + " usable ranges)");
    return {arg.added_bytes, arg.free_bytes};
}

std::string group_member_context(const group_member& member, std::size_t index) {
    std::string text = "member " + std::to_string(index + 1) + " (";
    if (member.op == group_op::setup)
        text += member.bdev + ", ";
    return text + minor_context(member.minor) + ", cow " + member.cow + ")";
}

void control_device::snapshot_group(std::span<const group_member> members) {
    auto whole_group = [&members] {
        std::string text = "group of " + std::to_string(members.size()) + " (minors";
        for (std::size_t i = 0; i < members.size(); i++)
            text += (i ? ", " : " ") + std::to_string(members[i].minor);
        return text + ")";
    };
    if (members.empty() || members.size() > BSNAP_MAX_GROUP)
        throw group_error(EINVAL,
                          "group of " + std::to_string(members.size()) +
                              " devices: a group has 1 to " + std::to_string(BSNAP_MAX_GROUP),
                          std::nullopt);

    std::vector<bsnap_group_member> args(members.size()); // value-initialised: all zeros
    for (std::size_t i = 0; i < members.size(); i++) {
        const group_member& m = members[i];
        bsnap_group_member& arg = args[i];
        arg.minor = m.minor;
        arg.fallocate_size = m.fallocate_size;
        arg.cow_path = user_pointer(m.cow);
        if (m.op == group_op::setup) {
            arg.op = BSNAP_GROUP_SETUP;
            arg.flags = m.ignore_errors ? BSNAP_FLAG_IGNORE_ERRORS : 0;
            arg.cache_size = m.cache_size;
            arg.bdev_path = user_pointer(m.bdev);
        } else {
            // The module refuses setup-only fields on a transition.
            arg.op = BSNAP_GROUP_TRANSITION;
        }
    }
    auto group = sized<bsnap_group_snapshot>();
    group.nr_members = static_cast<std::uint32_t>(args.size());
    group.member_size = sizeof(bsnap_group_member);
    group.members = reinterpret_cast<std::uintptr_t>(args.data());

    int result;
    do {
        result = ::ioctl(fd_.get(), BSNAP_IOC_SNAPSHOT_GROUP, &group);
    } while (result < 0 && errno == EINTR);
    if (result == 0)
        return;
    int err = errno;
    // 'failed' names a member only when the module got as far as the members
    // and stored that member's error; a refusal of the whole call (bad size,
    // EFAULT, no such ioctl) leaves it as it was.
    if (group.failed < args.size() && args[group.failed].error < 0)
        throw group_error(-args[group.failed].error,
                          group_member_context(members[group.failed], group.failed),
                          std::size_t{group.failed});
    throw group_error(err, whole_group(), std::nullopt);
}

device_info control_device::info(unsigned minor) {
    // About 8 KiB: on the heap rather than the stack.
    auto arg = std::make_unique<bsnap_info>(); // value-initialised: all zeros
    arg->size = sizeof(bsnap_info);
    arg->minor = minor;
    call(BSNAP_IOC_INFO, arg.get(), minor_context(minor));
    return to_device_info(*arg);
}

unsigned control_device::get_free_minor() {
    auto arg = sized<bsnap_minor_arg>();
    call(BSNAP_IOC_GET_FREE_MINOR, &arg, path_.string());
    return arg.minor;
}

} // namespace bsnap
