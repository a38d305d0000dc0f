#include "bsnap/space_map.hpp"

#include "bsnap/errors.hpp"

#include <cerrno>
#include <climits>
#include <cstring>
#include <linux/fs.h>
#include <linux/fsmap.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

namespace bsnap {

namespace {

// Records asked for per call.
constexpr std::uint32_t batch = 512;

} // namespace

std::uint32_t fsmap_device(dev_t dev) {
    auto ma = static_cast<std::uint32_t>(major(dev));
    auto mi = static_cast<std::uint32_t>(minor(dev));
    return (mi & 0xffu) | (ma << 8) | ((mi & ~0xffu) << 12);
}

std::optional<space_record> to_space_record(const fsmap& record, std::uint32_t device) {
    if (record.fmr_device != device || record.fmr_length == 0)
        return std::nullopt;
    return space_record{record.fmr_physical, record.fmr_length, record.fmr_owner == FMR_OWN_FREE};
}

std::vector<space_record> read_space_map(int fd, std::uint32_t device, std::uint64_t start,
                                         std::uint64_t end, const std::string& name) {
    std::vector<space_record> records;
    if (start >= end)
        return records;
    // struct fsmap_head ends in a flexible array: room for it in 8-byte words.
    std::vector<std::uint64_t> storage((fsmap_sizeof(batch) + sizeof(std::uint64_t) - 1) /
                                       sizeof(std::uint64_t));
    auto* head = reinterpret_cast<fsmap_head*>(storage.data());
    head->fmh_count = batch;
    // Low key: the first byte (length 0: not a continuation). High key: the
    // last byte, inclusive, with every other field at its maximum; xfs wants
    // its length 0 or all ones.
    head->fmh_keys[0].fmr_device = device;
    head->fmh_keys[0].fmr_physical = start;
    head->fmh_keys[1].fmr_device = device;
    head->fmh_keys[1].fmr_physical = end - 1;
    head->fmh_keys[1].fmr_owner = ULLONG_MAX;
    head->fmh_keys[1].fmr_offset = ULLONG_MAX;
    head->fmh_keys[1].fmr_flags = UINT_MAX;

    const std::string what =
        "GETFSMAP " + name + " [" + std::to_string(start) + ", " + std::to_string(end) + ")";
    for (;;) {
        head->fmh_entries = 0;
        int r;
        do {
            r = ::ioctl(fd, FS_IOC_GETFSMAP, head);
        } while (r < 0 && errno == EINTR);
        if (r < 0)
            throw_errno(what);
        if (head->fmh_entries == 0)
            break;
        if (!(head->fmh_oflags & FMH_OF_DEV_T))
            // Device cookies, not numbers: records of another device (an
            // external log) could not be told apart.
            throw errno_error(EOPNOTSUPP, what + ": the filesystem does not report device numbers");
        for (std::uint32_t i = 0; i < head->fmh_entries; ++i)
            if (auto rec = to_space_record(head->fmh_recs[i], device))
                records.push_back(*rec);
        const fsmap& last = head->fmh_recs[head->fmh_entries - 1];
        if ((last.fmr_flags & FMR_OF_LAST) || last.fmr_physical + last.fmr_length >= end)
            break;
        if (std::memcmp(&last, &head->fmh_keys[0], sizeof last) == 0)
            throw errno_error(EIO, what + ": no progress past byte " +
                                       std::to_string(last.fmr_physical));
        fsmap_advance(head);
    }
    return records;
}

} // namespace bsnap
