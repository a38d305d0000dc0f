// The C API's control calls: each one the C++ library's call of the same
// name, with bsnapctl's path checks first and its explained refusals
// (refusals.hpp) as the reason.
#include "context.hpp"

#include <bsnap/cow_growth.hpp>
#include <bsnap/cow_location.hpp>
#include <bsnap/path_checks.hpp>
#include <bsnap/proc_info.hpp>
#include <bsnap/refusals.hpp>
#include <vector>

using namespace bsnap::c_api;

namespace {

bsnap::setup_params setup_params_of(const char* bdev, const char* cow, unsigned minor,
                                    const bsnap_setup_options* opts, bool reload) {
    require(bdev, "block device");
    require(cow, "cow file");
    bsnap::setup_params params;
    params.bdev = bsnap::canonical_block_device(bdev);
    if (reload) {
        // Relative to a filesystem that is not mounted yet: only its length.
        bsnap::check_path_length("cow file", cow);
        params.cow = cow;
    } else {
        params.cow = bsnap::canonical_cow_path(cow);
    }
    params.minor = minor;
    if (opts) {
        bsnap_setup_options o{};
        std::memcpy(&o, opts, std::min<std::size_t>(opts->size, sizeof o));
        params.cache_size = o.cache_size;
        params.fallocate_size = reload ? 0 : o.fallocate_size;
        params.ignore_errors = o.ignore_errors != 0;
    }
    return params;
}

bsnap_device_info c_info_of(const bsnap::device_info& d) {
    bsnap_device_info info{};
    info.size = sizeof info;
    info.minor = d.minor;
    info.state = d.state;
    info.error = d.error;
    info.cache_size = d.cache_size;
    info.falloc_size = d.falloc_size;
    info.cow_used_bytes = d.cow_used_bytes;
    info.cow_free_bytes = d.cow_free_bytes;
    info.cow_data_bytes = d.cow_data_bytes;
    info.seqid = d.seqid;
    std::memcpy(info.uuid, d.uuid.data(), sizeof info.uuid);
    info.device_sectors = d.device_sectors;
    info.changed_blocks = d.changed_blocks;
    info.block_size = d.block_size;
    info.ignore_errors = d.ignore_errors;
    d.bdev_path.copy(info.bdev, sizeof info.bdev - 1);
    d.cow_path.copy(info.cow, sizeof info.cow - 1);
    return info;
}

} // namespace

extern "C" {

int bsnap_setup_snapshot(bsnap_ctx* ctx, const char* bdev, const char* cow, unsigned minor,
                         const bsnap_setup_options* opts) {
    return guarded(ctx, "setup-snapshot", [&] {
        // Checked before the control device is opened: the path's words first.
        bsnap::setup_params params = setup_params_of(bdev, cow, minor, opts, false);
        bsnap::explained({"setup-snapshot", params.minor, params.bdev, params.cow, {}},
                         [&] { ctx->control().setup_snapshot(params); });
        return 0;
    });
}

int bsnap_reload_snapshot(bsnap_ctx* ctx, const char* bdev, const char* cow, unsigned minor,
                          const bsnap_setup_options* opts) {
    return guarded(ctx, "reload-snapshot", [&] {
        // Checked before the control device is opened: the path's words first.
        bsnap::setup_params params = setup_params_of(bdev, cow, minor, opts, true);
        bsnap::explained({"reload-snapshot", params.minor, params.bdev, params.cow, {}},
                         [&] { ctx->control().reload_snapshot(params); });
        return 0;
    });
}

int bsnap_reload_incremental(bsnap_ctx* ctx, const char* bdev, const char* cow, unsigned minor,
                             const bsnap_setup_options* opts) {
    return guarded(ctx, "reload-incremental", [&] {
        // Checked before the control device is opened: the path's words first.
        bsnap::setup_params params = setup_params_of(bdev, cow, minor, opts, true);
        bsnap::explained({"reload-incremental", params.minor, params.bdev, params.cow, {}},
                         [&] { ctx->control().reload_incremental(params); });
        return 0;
    });
}

int bsnap_transition_to_incremental(bsnap_ctx* ctx, unsigned minor) {
    return guarded(ctx, "transition-to-incremental", [&] {
        bsnap::explained({"transition-to-incremental", minor, "", "", {}},
                         [&] { ctx->control().transition_to_incremental(minor); });
        return 0;
    });
}

int bsnap_transition_to_snapshot(bsnap_ctx* ctx, unsigned minor, const char* cow,
                                 uint64_t fallocate_size) {
    return guarded(ctx, "transition-to-snapshot", [&] {
        require(cow, "cow file");
        std::string path = bsnap::canonical_cow_path(cow);
        bsnap::explained({"transition-to-snapshot", minor, "", path, {}}, [&] {
            ctx->control().transition_to_snapshot(minor, path, fallocate_size);
        });
        return 0;
    });
}

int bsnap_reconfigure_cache(bsnap_ctx* ctx, unsigned minor, uint64_t cache_size) {
    return guarded(ctx, "reconfigure", [&] {
        bsnap::explained({"reconfigure", minor, "", "", {}},
                         [&] { ctx->control().reconfigure(minor, cache_size); });
        return 0;
    });
}

int bsnap_destroy(bsnap_ctx* ctx, unsigned minor) {
    return guarded(ctx, "destroy", [&] {
        bsnap::explained({"destroy", minor, "", "", {}}, [&] { ctx->control().destroy(minor); });
        return 0;
    });
}

int bsnap_get_free_minor(bsnap_ctx* ctx, unsigned* minor) {
    return guarded(ctx, "get-free-minor", [&] {
        require(minor, "minor");
        *minor = ctx->control().get_free_minor();
        return 0;
    });
}

int bsnap_snapshot_group(bsnap_ctx* ctx, const bsnap_group_entry* entries, size_t n,
                         size_t* failed) {
    if (failed)
        *failed = n;
    return guarded(ctx, "snapshot-group", [&] {
        require(entries, "group entries");
        std::vector<bsnap::group_member> members;
        for (std::size_t i = 0; i < n; ++i) {
            const bsnap_group_entry& e = entries[i];
            bsnap::group_member m;
            m.minor = e.minor;
            if (e.bdev) {
                bsnap::setup_params p = setup_params_of(e.bdev, e.cow, e.minor, e.opts, false);
                m.op = bsnap::group_op::setup;
                m.bdev = p.bdev;
                m.cow = p.cow;
                m.cache_size = p.cache_size;
                m.fallocate_size = p.fallocate_size;
                m.ignore_errors = p.ignore_errors;
            } else {
                require(e.cow, "cow file");
                m.op = bsnap::group_op::transition;
                m.cow = bsnap::canonical_cow_path(e.cow);
            }
            members.push_back(std::move(m));
        }
        try {
            ctx->control().snapshot_group(members);
        } catch (const bsnap::group_error& e) {
            if (failed && e.member())
                *failed = *e.member();
            throw;
        }
        return 0;
    });
}

int bsnap_grow_cow_file(bsnap_ctx* ctx, unsigned minor, const char* cow, uint64_t grow_bytes,
                        uint64_t* free_bytes) {
    return guarded(ctx, "expand-cow-file", [&] {
        bsnap::control_device& ctl = ctx->control();
        std::filesystem::path path =
            cow ? std::filesystem::path(cow) : bsnap::locate_cow_file(ctl.info(minor));
        bsnap::cow_growth_result result = bsnap::grow_cow_file(ctl, minor, path, grow_bytes);
        if (free_bytes)
            *free_bytes = result.free_bytes.value_or(0);
        return 0;
    });
}

int bsnap_get_info(bsnap_ctx* ctx, unsigned minor, bsnap_device_info* info) {
    return guarded(ctx, "info", [&] {
        require(info, "info");
        copy_sized(info, c_info_of(ctx->control().info(minor)));
        return 0;
    });
}

int bsnap_list(bsnap_ctx* ctx, unsigned* minors, size_t max) {
    return guarded(ctx, "list", [&] {
        bsnap::proc_info info = bsnap::read_proc_info();
        for (std::size_t i = 0; i < info.devices.size() && i < max; ++i)
            minors[i] = info.devices[i].minor;
        return static_cast<int>(info.devices.size());
    });
}

} // extern "C"
