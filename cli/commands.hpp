// bsnapctl's commands as typed values: what the command line asked for,
// parsed and checked, before anything touches a device.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace bsnap::ctl {

struct help_command {
    static constexpr std::string_view name = "help";
    std::string topic; // a command name, or empty for the general help
    bool operator==(const help_command&) const = default;
};

struct version_command {
    static constexpr std::string_view name = "version";
    bool tool_only = false; // `bsnapctl --version`: no module query
    bool operator==(const version_command&) const = default;
};

struct info_command {
    static constexpr std::string_view name = "info";
    std::optional<unsigned> minor; // none: the whole module (/proc/bsnap-info)
    bool json = false;
    bool operator==(const info_command&) const = default;
};

struct status_command {
    static constexpr std::string_view name = "status";
    bool json = false;
    bool operator==(const status_command&) const = default;
};

struct get_free_minor_command {
    static constexpr std::string_view name = "get-free-minor";
    bool operator==(const get_free_minor_command&) const = default;
};

// One device of setup-snapshot.
struct setup_target {
    std::string bdev;
    std::string cow;
    unsigned minor = 0;
    bool operator==(const setup_target&) const = default;
};

// One device of transition-to-snapshot.
struct transition_target {
    std::string cow;
    unsigned minor = 0;
    bool operator==(const transition_target&) const = default;
};

// setup-snapshot and transition-to-snapshot take one device or a group of
// them (at most BSNAP_MAX_GROUP, distinct minors), snapshotted at one
// instant; the options apply to every device.
struct setup_snapshot_command {
    static constexpr std::string_view name = "setup-snapshot";
    std::vector<setup_target> devices; // in freeze order
    std::uint64_t cache_size = 0;      // bytes, 0 = module default
    std::uint64_t fallocate_size = 0;  // bytes, 0 = module default
    bool ignore_errors = false;
    bool operator==(const setup_snapshot_command&) const = default;
};

struct reload_snapshot_command {
    static constexpr std::string_view name = "reload-snapshot";
    std::string bdev;
    std::string cow; // relative to the filesystem's mount point
    unsigned minor = 0;
    std::uint64_t cache_size = 0;
    bool ignore_errors = false;
    bool operator==(const reload_snapshot_command&) const = default;
};

struct reload_incremental_command {
    static constexpr std::string_view name = "reload-incremental";
    std::string bdev;
    std::string cow; // relative to the filesystem's mount point
    unsigned minor = 0;
    std::uint64_t cache_size = 0;
    bool ignore_errors = false;
    bool operator==(const reload_incremental_command&) const = default;
};

struct destroy_command {
    static constexpr std::string_view name = "destroy";
    unsigned minor = 0;
    bool operator==(const destroy_command&) const = default;
};

struct transition_to_incremental_command {
    static constexpr std::string_view name = "transition-to-incremental";
    unsigned minor = 0;
    bool operator==(const transition_to_incremental_command&) const = default;
};

struct transition_to_snapshot_command {
    static constexpr std::string_view name = "transition-to-snapshot";
    std::vector<transition_target> devices; // in freeze order
    std::uint64_t fallocate_size = 0;
    bool operator==(const transition_to_snapshot_command&) const = default;
};

struct reconfigure_command {
    static constexpr std::string_view name = "reconfigure";
    unsigned minor = 0;
    std::uint64_t cache_size = 0;
    bool operator==(const reconfigure_command&) const = default;
};

struct expand_cow_file_command {
    static constexpr std::string_view name = "expand-cow-file";
    std::uint64_t grow_bytes = 0;
    unsigned minor = 0;
    std::string cow; // empty: the path the module reports
    bool operator==(const expand_cow_file_command&) const = default;
};

// cow-info and changed-blocks: a CoW file's header, its runs of changed
// blocks; read through libbsnap's C reader (<bsnap/libbsnap.h>).
struct cow_info_command {
    static constexpr std::string_view name = "cow-info";
    std::string file;
    bool json = false;
    bool operator==(const cow_info_command&) const = default;
};

struct changed_blocks_command {
    static constexpr std::string_view name = "changed-blocks";
    std::string file;
    bool json = false;
    bool operator==(const changed_blocks_command&) const = default;
};

using command =
    std::variant<help_command, version_command, info_command, status_command,
                 get_free_minor_command, setup_snapshot_command, reload_snapshot_command,
                 reload_incremental_command, destroy_command, transition_to_incremental_command,
                 transition_to_snapshot_command, reconfigure_command, expand_cow_file_command,
                 cow_info_command, changed_blocks_command>;

inline std::string_view command_name(const command& cmd) {
    return std::visit([](const auto& c) { return c.name; }, cmd);
}

} // namespace bsnap::ctl
