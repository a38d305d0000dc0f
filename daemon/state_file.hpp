// bsnapd's state file: the devices bsnap traces, with what it takes to reload
// them after a reboot. Default /var/lib/bsnap/state.json (it must be on the
// root filesystem: it is read before other filesystems are mounted).
//
//   {
//     "format": "bsnapd-state",
//     "version": 1,
//     "devices": [
//       {"minor": 0, "fs_uuid": "3f0c...", "partuuid": "", "mode": "incremental",
//        "cow": "var/.bsnap0", "chain_uuid": "0a1b...", "seqid": 3,
//        "cache_size": 0, "ignore_errors": false, "root": false, "device": "/dev/vdb1",
//        "module_instance": "<boot id>/<inode of /sys/module/bsnap>"}
//     ],
//     "checksum": "crc32:1a2b3c4d"
//   }
//
// "cow" is relative to the filesystem's root (as reload takes it), or null
// when bsnapd could not work it out. "device" is the kernel name last seen,
// for messages only. "module_instance" is the module load in which the
// device was last seen traced (see reconcile.hpp). "checksum" is zlib's
// crc32 of the document without "checksum", dumped compactly (keys sorted).
// "ignore_errors" came after the first files were written: a device without
// it reloads without -i.
//
// Reading is strict: a wrong checksum, a missing or mistyped field or an
// unknown key is a state_file_error (corrupt), a version other than 1 one
// with version_unsupported; never a partly trusted file.
#pragma once

#include "device_identity.hpp"

#include <bsnap/device_state.hpp>
#include <bsnap/errors.hpp>
#include <bsnap/uuid.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bsnap::daemon {

inline constexpr const char* default_state_file = "/var/lib/bsnap/state.json";
inline constexpr int state_file_version = 1;

struct traced_device {
    unsigned minor = 0;
    device_identity identity;
    device_mode mode = device_mode::incremental;
    std::optional<std::string> cow; // relative to the filesystem root
    bsnap::uuid chain_uuid{};
    std::uint64_t seqid = 0;
    std::uint64_t cache_size = 0;
    bool ignore_errors = false; // reloaded with -i
    bool root = false;
    std::string device;          // last kernel name, informational
    std::string module_instance; // where last seen traced

    bool operator==(const traced_device&) const = default;
};

struct state {
    std::vector<traced_device> devices; // sorted by minor

    const traced_device* find(unsigned minor) const;
    bool operator==(const state&) const = default;
};

class state_file_error : public format_error {
  public:
    enum class kind { corrupt, version_unsupported };
    state_file_error(kind k, const std::string& context) : format_error(context), kind_(k) {}
    kind problem() const { return kind_; }

  private:
    kind kind_;
};

// The document, checksum included; and back (throws state_file_error,
// naming `source`).
std::string serialize_state(const state& s);
state parse_state(std::string_view text, const std::string& source);

// Reads the file: none if it does not exist; throws state_file_error for a
// corrupt or unsupported file, std::system_error for a read error.
std::optional<state> load_state(const std::filesystem::path& path);

// Test hook: called between the temporary file's fsync and the rename.
using before_rename_hook = std::function<void(const std::filesystem::path& temporary)>;

// Atomic replace: writes <path>.tmp in the same directory (created if
// missing), fsyncs it, renames it over path and fsyncs the directory. Either
// the old or the new content survives a crash, never a mix. Throws
// std::system_error naming the step.
void save_state(const std::filesystem::path& path, const state& s,
                const before_rename_hook& hook = {});

// Moves a bad state file aside to <path>.corrupt-<UTC yyyymmddThhmmssZ>
// (never over an existing file) and returns the new name.
std::filesystem::path quarantine_state(const std::filesystem::path& path);

} // namespace bsnap::daemon
