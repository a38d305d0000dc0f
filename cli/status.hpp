// `bsnapctl status`: every traced device in one table, or as a JSON array.
//
//   MINOR  DEVICE     STATE              MODE         COW FILE   COW USED/SIZE     CHANGED   ERROR
//   0      /dev/vdb1  active             incremental  /.bsnap0   0 B / 10 MiB      12        -
//   3      /dev/vdc   unverified failed  snapshot     bsnap/c3   4 KiB / 100 MiB   0 EUCLEAN: ...
//
// --json prints the same document as `info --json`.
// Built from /proc/bsnap-info (proc_info.hpp); pure functions, so the tests
// check the formatting without the module.
#pragma once

#include <bsnap/proc_info.hpp>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace bsnap::ctl {

// A header line and one line per device, columns padded to their widest
// cell; "no traced devices" when there are none. Ends with a newline.
std::string status_table(const proc_info& info);

// The document of `info --json` (docs/bsnap-info.schema.json): one schema
// for every JSON bsnapctl prints about devices.
nlohmann::json status_json(const proc_info& info);

} // namespace bsnap::ctl
