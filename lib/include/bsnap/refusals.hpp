// Refusals that say why. The module answers a control call with an errno
// only, and one errno has several causes (EBUSY: the device is traced
// already, or the minor is in use; a failed device answers
// transition-to-snapshot with the errno it failed with). explain_refusal()
// names the cause and the next step from what /proc/bsnap-info shows, e.g.
//   "/dev/vdb1 is traced already, by minor 0: destroy minor 0 first, or take
//    the next snapshot with transition-to-snapshot 0"
// The errno stays the module's. bsnapctl and libbsnap use it; bsnap(7)
// lists the errnos.
#pragma once

#include "bsnap/device_info.hpp"

#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace bsnap {

// What was asked, and the devices the module traced when it refused.
struct refusal_facts {
    std::string operation; // "setup-snapshot", "transition-to-snapshot", ...
    unsigned minor = 0;
    std::string bdev; // setup and reload: the device (canonical)
    std::string cow;  // setup and transitions to snapshot: the CoW file
    std::vector<device_info> devices;
};

// One sentence, cause then next step; nullopt when the errno's own text
// says all there is to say.
std::optional<std::string> explain_refusal(int err, const refusal_facts& facts);

// Runs call(); a std::system_error in the errno category that
// explain_refusal() explains (facts.devices read now from
// /proc/bsnap-info) is thrown again with the sentence and the same errno.
// Anything else passes unchanged, and so does everything when
// /proc/bsnap-info cannot be read (no module: the error says so already).
template <typename Call>
void explained(refusal_facts facts, Call&& call);

// What destroy of a device that is not active leaves: "minor 3 was dormant:
// its CoW file /x is left in place, marked not clean (no reload trusts it);
// delete it once /dev/vdb1 is mounted".
std::string left_in_place_note(const device_info& device);

// The traced device whose CoW file is the file at path (same inode; a
// relative path of a reloaded device is looked up under its mount points),
// if any.
std::optional<device_info> device_using_cow_file(const std::string& path,
                                                 const std::vector<device_info>& devices);

// The refusal of a CoW file still in use (update-img, changed-blocks): "CoW
// file /x is in use by minor 0 (/dev/vdb1): run transition-to-snapshot 0
// first; then it holds the changes up to the new snapshot".
std::string in_use_refusal(const std::string& path, const device_info& device);

// Throws EBUSY with in_use_refusal() if a traced device uses the CoW file
// at path; nothing without /proc/bsnap-info (no module, not root).
void refuse_cow_file_in_use(const std::string& path);

// The devices of /proc/bsnap-info; nullopt if it cannot be read.
std::optional<std::vector<device_info>> traced_devices();

template <typename Call>
void explained(refusal_facts facts, Call&& call) {
    try {
        call();
    } catch (const std::system_error& e) {
        if (e.code().category() != std::generic_category())
            throw;
        std::optional<std::vector<device_info>> devices = traced_devices();
        if (!devices)
            throw;
        facts.devices = std::move(*devices);
        std::optional<std::string> why = explain_refusal(e.code().value(), facts);
        if (!why)
            throw;
        throw std::system_error(e.code(), *why);
    }
}

} // namespace bsnap
