#include "device_identity.hpp"

#include <blkid/blkid.h>
#include <bsnap/errors.hpp>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <memory>

namespace bsnap::daemon {

std::string to_string(const device_identity& id) {
    std::string text;
    if (!id.fs_uuid.empty())
        text = "UUID=" + id.fs_uuid;
    if (!id.partuuid.empty())
        text += (text.empty() ? "" : " ") + std::string("PARTUUID=") + id.partuuid;
    return text.empty() ? "(no identity)" : text;
}

namespace {

struct free_deleter {
    void operator()(char* p) const { std::free(p); }
};

struct probe_deleter {
    void operator()(blkid_probe p) const { blkid_free_probe(p); }
};

using unique_probe = std::unique_ptr<std::remove_pointer_t<blkid_probe>, probe_deleter>;

bool is_snapshot_image(const std::string& path) {
    return std::filesystem::path(path).filename().string().starts_with("bsnap");
}

std::optional<std::string> evaluate(const char* tag, const std::string& value) {
    if (value.empty())
        return std::nullopt;
    std::unique_ptr<char, free_deleter> found(blkid_evaluate_tag(tag, value.c_str(), nullptr));
    if (!found)
        return std::nullopt;
    std::error_code ec;
    std::string path = std::filesystem::canonical(found.get(), ec).string();
    if (ec)
        path = found.get();
    if (is_snapshot_image(path))
        throw resolution_error(std::string(tag) + "=" + value + " names the snapshot image " +
                               path + ", not the traced device");
    return path;
}

class blkid_resolver : public device_resolver {
  public:
    std::optional<std::string> resolve(const device_identity& id) override {
        auto by_uuid = evaluate("UUID", id.fs_uuid);
        auto by_partuuid = evaluate("PARTUUID", id.partuuid);
        if (by_uuid && by_partuuid && *by_uuid != *by_partuuid)
            throw resolution_error(to_string(id) + ": the UUID names " + *by_uuid +
                                   ", the PARTUUID " + *by_partuuid);
        return by_uuid ? by_uuid : by_partuuid;
    }

    device_identity identify(const std::string& device) override {
        unique_probe probe(blkid_new_probe_from_filename(device.c_str()));
        if (!probe)
            throw errno_error(errno != 0 ? errno : EIO, "probe " + device);
        blkid_probe_enable_superblocks(probe.get(), 1);
        blkid_probe_set_superblocks_flags(probe.get(), BLKID_SUBLKS_UUID);
        blkid_probe_enable_partitions(probe.get(), 1);
        blkid_probe_set_partitions_flags(probe.get(), BLKID_PARTS_ENTRY_DETAILS);
        // 0: found, 1: nothing, -2: ambiguous, -1: error.
        int result = blkid_do_safeprobe(probe.get());
        if (result == -1)
            throw errno_error(errno != 0 ? errno : EIO, "probe " + device);
        device_identity id;
        const char* value = nullptr;
        if (blkid_probe_lookup_value(probe.get(), "UUID", &value, nullptr) == 0 && value)
            id.fs_uuid = value;
        if (blkid_probe_lookup_value(probe.get(), "PART_ENTRY_UUID", &value, nullptr) == 0 && value)
            id.partuuid = value;
        return id;
    }
};

} // namespace

std::unique_ptr<device_resolver> make_blkid_resolver() {
    return std::make_unique<blkid_resolver>();
}

} // namespace bsnap::daemon
