// How bsnapd names a traced device across reboots: its filesystem UUID and/or
// its partition's PARTUUID, never a kernel name (/dev/vdb1 may be /dev/vdc1
// at the next boot).
//
// A device_resolver turns an identity into the device's current path and a
// path into an identity; blkid_resolver does it with libblkid, tests inject
// their own.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace bsnap::daemon {

struct device_identity {
    std::string fs_uuid;  // the filesystem's UUID (blkid's UUID), "" if none
    std::string partuuid; // the partition's PARTUUID, "" if none

    bool empty() const { return fs_uuid.empty() && partuuid.empty(); }
    bool operator==(const device_identity&) const = default;
};

// "UUID=... PARTUUID=...", the parts that are set; "(no identity)" if none.
std::string to_string(const device_identity& id);

class device_resolver {
  public:
    virtual ~device_resolver() = default;
    // The path of the block device with this identity, or none if no device
    // has it (yet). When both parts are set they must name the same device:
    // otherwise resolution_error.
    virtual std::optional<std::string> resolve(const device_identity& id) = 0;
    // The identity of a block device (empty if it has neither). Throws
    // std::system_error if the device cannot be read.
    virtual device_identity identify(const std::string& device) = 0;
};

// Two parts of one identity name different devices, or a tag names a
// snapshot image /dev/bsnapN (which shows its origin's filesystem UUID).
class resolution_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// libblkid: blkid_evaluate_tag() (udev's /dev/disk/by-* links, else a probe
// of every device), and a low-level probe for identify().
std::unique_ptr<device_resolver> make_blkid_resolver();

} // namespace bsnap::daemon
