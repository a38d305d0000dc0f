// device_info as human-readable text, one "name: value" line per field:
//
//   minor 3: active snapshot
//     block device:   /dev/vda1
//     device size:    1 GiB (2097152 sectors)
//     ...
#pragma once

#include "bsnap/device_info.hpp"

#include <string>

namespace bsnap {

// Ends with a newline.
std::string to_text(const device_info& info);

// "none", or "No space left on device (errno 28)".
std::string describe_error(int error);

} // namespace bsnap
