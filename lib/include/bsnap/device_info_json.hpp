// device_info <-> JSON. The same keys serve `bsnapctl info --json` and the
// entries of /proc/bsnap-info's "devices" array (module/proc_info.c):
//
//   minor, state (BSNAP_STATE_* bits), mode ("snapshot", "incremental"),
//   activity ("active", "dormant", "unverified"), failed, state_name
//   ("active snapshot"), error (positive errno, 0 if none), error_name
//   ("ENOSPC", "" if none), error_text (strerror, "" if none), bdev, cow
//   (paths), cache_size, falloc_size, cow_used_bytes, cow_free_bytes,
//   cow_data_bytes (bytes), seqid, uuid ("8-4-4-4-12" hex), device_sectors,
//   changed_blocks, block_size, ignore_errors, and cbt_bytes when known
//   (from /proc/bsnap-info; the info ioctl does not report it).
// docs/bsnap-info.schema.json is the schema (format_version 1), bsnap(7)
// the documentation.
//
// Reading is tolerant: only "minor" is required, unknown keys are ignored,
// mode, activity, failed, state_name and the error's name and text are not
// read back (state and error hold them), a negative (older modules') error
// is taken as its errno, and uuid may also be 32 bare hex digits.
#pragma once

#include "bsnap/device_info.hpp"

#include <nlohmann/json_fwd.hpp>
#include <string>

namespace bsnap {

// nlohmann's ADL hook: `nlohmann::json j = info;`.
void to_json(nlohmann::json& j, const device_info& info);

// Throws format_error "<where>.<key>: <problem>" on a missing minor or a value
// of the wrong type. where names the object, e.g. "/proc/bsnap-info: devices[0]".
device_info device_info_from_json(const nlohmann::json& j, const std::string& where);

} // namespace bsnap
