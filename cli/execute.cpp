#include "execute.hpp"

#include "command_line.hpp"
#include "cow_report.hpp"
#include "status.hpp"

#include <bsnap/control_device.hpp>
#include <bsnap/cow_growth.hpp>
#include <bsnap/cow_location.hpp>
#include <bsnap/device_info_json.hpp>
#include <bsnap/device_info_text.hpp>
#include <bsnap/errors.hpp>
#include <bsnap/path_checks.hpp>
#include <bsnap/proc_info.hpp>
#include <bsnap/refusals.hpp>
#include <bsnap/version.hpp>
#include <cerrno>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

namespace bsnap::ctl {

namespace {

void run(const help_command& cmd, std::ostream& out) {
    out << help_text(cmd.topic);
}

void run(const version_command& cmd, std::ostream& out) {
    out << "bsnapctl " << tool_version() << " (ABI " << abi_version << ")\n";
    if (cmd.tool_only)
        return;
    out.flush(); // the tool's line stays visible if the module is missing
    module_version module = control_device().version();
    out << "bsnap module " << module.version << " (ABI " << module.abi_version << ")\n";
    if (module.abi_version != abi_version)
        throw errno_error(EPROTO, "the module's ABI " + std::to_string(module.abi_version) +
                                      " differs from bsnapctl's ABI " +
                                      std::to_string(abi_version));
}

void run(const info_command& cmd, std::ostream& out) {
    if (!cmd.minor) {
        proc_info info = read_proc_info();
        if (cmd.json)
            out << nlohmann::json(info).dump(2) << "\n";
        else
            out << to_text(info);
        return;
    }
    device_info info = control_device().info(*cmd.minor);
    if (cmd.json)
        out << device_document(info).dump(2) << "\n";
    else
        out << to_text(info);
}

void run(const status_command& cmd, std::ostream& out) {
    proc_info info = read_proc_info();
    if (cmd.json)
        out << status_json(info).dump(2) << "\n";
    else
        out << status_table(info);
}

void run(const get_free_minor_command&, std::ostream& out) {
    out << control_device().get_free_minor() << "\n";
}

// One device: the single-device ioctl, as before groups existed (and as an
// older module knows it). Several: one group ioctl.
void run(const setup_snapshot_command& cmd, std::ostream&) {
    if (cmd.devices.size() == 1) {
        const setup_target& device = cmd.devices.front();
        setup_params params;
        params.bdev = canonical_block_device(device.bdev);
        params.cow = canonical_cow_path(device.cow);
        params.minor = device.minor;
        params.cache_size = cmd.cache_size;
        params.fallocate_size = cmd.fallocate_size;
        params.ignore_errors = cmd.ignore_errors;
        explained({"setup-snapshot", params.minor, params.bdev, params.cow, {}},
                  [&] { control_device().setup_snapshot(params); });
        return;
    }
    std::vector<group_member> members;
    for (const setup_target& device : cmd.devices) {
        group_member member;
        member.op = group_op::setup;
        member.bdev = canonical_block_device(device.bdev);
        member.cow = canonical_cow_path(device.cow);
        member.minor = device.minor;
        member.cache_size = cmd.cache_size;
        member.fallocate_size = cmd.fallocate_size;
        member.ignore_errors = cmd.ignore_errors;
        members.push_back(std::move(member));
    }
    control_device().snapshot_group(members);
}

// reload-snapshot and reload-incremental: the CoW path is relative to the
// mount point of a filesystem that is not mounted yet, so only its length is
// checked here.
template <typename Reload>
setup_params reload_params(const Reload& cmd) {
    setup_params params;
    params.bdev = canonical_block_device(cmd.bdev);
    check_path_length("cow file", cmd.cow);
    params.cow = cmd.cow;
    params.minor = cmd.minor;
    params.cache_size = cmd.cache_size;
    params.ignore_errors = cmd.ignore_errors;
    return params;
}

// A CoW file the module cannot use still leaves the device registered
// (unverified and failed, so that nothing trusts it): report that as the
// command's failure, with the module's errno.
void check_reloaded(control_device& ctl, unsigned minor, const std::string& cow, bool snapshot) {
    device_info info = ctl.info(minor);
    if (info.error == 0)
        return;
    // EINVAL from reload-snapshot: the file holds the change map of a
    // snapshot that failed, not the snapshot; the chain itself is intact.
    if (snapshot && info.error == EINVAL)
        throw errno_error(info.error, "reload: CoW file " + cow +
                                          " holds no usable snapshot (it failed); the device "
                                          "stays unverified and failed: destroy it, then "
                                          "reload-incremental continues the chain");
    // EUCLEAN from reload-snapshot: the snapshot was in use at a crash (its
    // index is not trusted), or the file cannot say what changed; the
    // module does not say which, reload-incremental will.
    if (snapshot && info.error == EUCLEAN)
        throw errno_error(info.error, "reload: CoW file " + cow +
                                          " holds a snapshot lost in a crash, or cannot say what "
                                          "changed; the device stays unverified and failed: "
                                          "destroy it, then reload-incremental continues the "
                                          "chain unless it is broken");
    // A crash alone no longer gives EUCLEAN (format version 4 keeps write
    // intent): a change may be missing, and only a full backup has them all.
    if (info.error == EUCLEAN)
        throw errno_error(info.error, "reload: CoW file " + cow +
                                          " cannot say what changed (its chain broke, or a "
                                          "version 3 file was not closed cleanly); the device "
                                          "stays unverified and failed: take a full backup");
    throw errno_error(info.error, "reload: CoW file " + cow +
                                      " cannot be used; the device stays unverified and "
                                      "failed: take a full backup");
}

void run(const reload_snapshot_command& cmd, std::ostream&) {
    control_device ctl;
    setup_params params = reload_params(cmd);
    explained({"reload-snapshot", params.minor, params.bdev, params.cow, {}},
              [&] { ctl.reload_snapshot(params); });
    check_reloaded(ctl, cmd.minor, cmd.cow, true);
}

void run(const reload_incremental_command& cmd, std::ostream&) {
    control_device ctl;
    setup_params params = reload_params(cmd);
    explained({"reload-incremental", params.minor, params.bdev, params.cow, {}},
              [&] { ctl.reload_incremental(params); });
    check_reloaded(ctl, cmd.minor, cmd.cow, false);
}

// Destroy of a device that is not active cannot delete its CoW file (the
// filesystem is not mounted): say so, with what to do.
void run(const destroy_command& cmd, std::ostream&) {
    control_device ctl;
    std::optional<device_info> before;
    try {
        before = ctl.info(cmd.minor);
    } catch (const std::system_error&) {
        // destroy itself reports a minor that is not traced
    }
    explained({"destroy", cmd.minor, "", "", {}}, [&] { ctl.destroy(cmd.minor); });
    if (before && before->falloc_size != 0 &&
        before->decoded_state().activity != device_activity::active)
        std::cerr << "bsnapctl: destroy: " << left_in_place_note(*before) << "\n";
}

void run(const transition_to_incremental_command& cmd, std::ostream&) {
    explained({"transition-to-incremental", cmd.minor, "", "", {}},
              [&] { control_device().transition_to_incremental(cmd.minor); });
}

void run(const transition_to_snapshot_command& cmd, std::ostream&) {
    if (cmd.devices.size() == 1) {
        const transition_target& device = cmd.devices.front();
        std::string cow = canonical_cow_path(device.cow);
        explained({"transition-to-snapshot", device.minor, "", cow, {}}, [&] {
            control_device().transition_to_snapshot(device.minor, cow, cmd.fallocate_size);
        });
        return;
    }
    std::vector<group_member> members;
    for (const transition_target& device : cmd.devices) {
        group_member member;
        member.op = group_op::transition;
        member.cow = canonical_cow_path(device.cow);
        member.minor = device.minor;
        member.fallocate_size = cmd.fallocate_size;
        members.push_back(std::move(member));
    }
    control_device().snapshot_group(members);
}

void run(const reconfigure_command& cmd, std::ostream&) {
    explained({"reconfigure", cmd.minor, "", "", {}},
              [&] { control_device().reconfigure(cmd.minor, cmd.cache_size); });
}

void run(const expand_cow_file_command& cmd, std::ostream& out) {
    control_device ctl;
    std::filesystem::path cow =
        cmd.cow.empty() ? locate_cow_file(ctl.info(cmd.minor)) : std::filesystem::path(cmd.cow);
    cow_growth_result result = grow_cow_file(ctl, cmd.minor, cow, cmd.grow_bytes);
    // Space left out is not an error, but worth knowing.
    for (const std::string& note : result.notes)
        std::cerr << "bsnapctl: " << cmd.name << ": " << note << "\n";
    out << describe(result, cmd.minor) << "\n";
}

void run(const cow_info_command& cmd, std::ostream& out) {
    bsnap_cow_file_info info = read_cow_info(cmd.file);
    if (cmd.json)
        out << cow_info_json(cmd.file, info).dump(2) << "\n";
    else
        out << cow_info_text(cmd.file, info);
}

void run(const changed_blocks_command& cmd, std::ostream& out) {
    cow_runs runs = read_cow_runs(cmd.file);
    if (cmd.json)
        out << cow_runs_json(cmd.file, runs).dump() << "\n"; // one line: runs may be many
    else
        write_runs_text(out, runs);
}

} // namespace

void execute(const command& cmd, std::ostream& out) {
    std::visit([&out](const auto& c) { run(c, out); }, cmd);
}

} // namespace bsnap::ctl
