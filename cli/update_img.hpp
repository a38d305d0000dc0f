// update-img: bring a backup image up to date with a snapshot, copying only
// the blocks that the previous snapshot's CoW file marks as changed, or,
// after a crash in snapshot mode, those that any of the CoW files since the
// image's snapshot marks (cow_chain.hpp).
//
// Everything is checked before the image is opened for writing, so a refusal
// leaves it untouched: the CoW files (cow_file_reader), that they are one
// chain's consecutive files in order (cow_chain), that they belong to the
// snapshot's chain (same UUID) and the newest is the one just before it (its
// seqid is the snapshot's - 1), that the snapshot has not failed, that the
// snapshot, the CoW files' device and the image have the same size, and
// that the image is none of them (nor a CoW file given in its place).
// Success means the changed blocks were written and fsync()ed, and the
// snapshot still had not failed once they were read.
//
// A CoW file left by a crash (version 4, not clean, not BROKEN) is used with
// every block of its write-intent regions: the incremental is a superset of
// the changes; update_result::recovered names such files.
//
// Which snapshot a device shows is asked through a snapshot_lookup, so that
// tests can stand a regular file in for /dev/bsnapN (the real one is in
// snapshot_device.hpp).
//
// Blocks that read as all zeros from the snapshot (every incremental holds
// the blocks of the old and the new CoW file, which the image shows as zeros)
// are not written: a regular-file image gets a hole punched there
// (FALLOC_FL_PUNCH_HOLE), a block device BLKZEROOUT. Where the call is not
// supported (EOPNOTSUPP, EINVAL, ENOTTY), those zeros are written like any
// other data from then on. Either way the image reads the same.
//
// The copy is planned by copy_plan.hpp (nearby runs read in one request,
// with the unchanged blocks between them, which are not written) and done by
// copy_pipeline.hpp (several reads in flight while the image is written).
#pragma once

#include <bsnap/uuid.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <sys/types.h>
#include <vector>

namespace bsnap::upd {

// What the module says about the snapshot a device shows.
struct snapshot_identity {
    std::string name; // for messages: "snapshot /dev/bsnap3"
    bsnap::uuid uuid{};
    std::uint64_t seqid = 0;
    int error = 0;               // errno of a failure the module stored, 0 if none
    std::optional<dev_t> origin; // the traced device, which must never be the image
};

// Identifies the snapshot shown by the device at path (already opened; st is
// its fstat). Throws std::system_error if it is not a usable snapshot.
using snapshot_lookup =
    std::function<snapshot_identity(const std::string& path, const struct stat& st)>;

struct copy_progress {
    std::uint64_t blocks_done = 0;
    std::uint64_t blocks_total = 0;
    std::uint64_t bytes_done = 0;
    std::uint64_t bytes_total = 0;
    double seconds = 0;
};

// Called after every write, and once more at the end.
using progress_callback = std::function<void(const copy_progress&)>;

// Makes [offset, offset + len) of the image (open for writing, fd) read as
// zeros without writing them. Returns 0, or the errno of the failure:
// EOPNOTSUPP, EINVAL or ENOTTY mean "not supported here" (update-img then
// writes the zeros itself), any other fails the update.
using zero_range_function = std::function<int(int fd, std::uint64_t offset, std::uint64_t len)>;

// The zero_range_function update-img uses for an image of this type:
// fallocate(PUNCH_HOLE | KEEP_SIZE) for a regular file, BLKZEROOUT for a
// block device.
zero_range_function default_zero_range(bool block_device);

struct update_params {
    std::string snapshot; // /dev/bsnapN
    // Oldest first, the last the previous snapshot's: the CoW files of the
    // image's snapshot and of each later one (one, unless a backup failed).
    std::vector<std::string> cows;
    std::string image;                      // a regular file or block device the size of the origin
    std::uint64_t max_io = 4 * 1024 * 1024; // bytes per read from the snapshot
    zero_range_function zero_range{};       // empty: default_zero_range() for the image
    // Runs of changed blocks at most this many bytes apart are read in one
    // request (the unchanged blocks between them are read, not written); 0: never.
    std::uint64_t max_gap = 1024 * 1024;
    unsigned readers = 4; // reads from the snapshot in flight at once
};

// A CoW file not closed cleanly (a crash) whose write intent made it usable.
struct recovered_cow {
    std::string path;
    std::uint64_t regions = 0;      // write-intent regions copied whole
    std::uint64_t region_bytes = 0; // bytes of each

    bool operator==(const recovered_cow&) const = default;
};

struct update_result {
    std::uint64_t blocks = 0; // changed blocks copied
    std::uint64_t bytes = 0;  // bytes copied (the last block may be partial)
    double seconds = 0;
    std::uint64_t bytes_zeroed = 0; // of bytes, made zeros by zero_range (the rest written)
    std::uint64_t bytes_read = 0;   // read from the snapshot: bytes and the gaps read with them
    std::vector<recovered_cow> recovered{}; // the incremental is a superset because of them
};

// Throws: cow_format_error (EBADMSG) for a bad, BROKEN or (without write
// intent) unclean CoW file; EINVAL for another chain, a wrong order, a gap,
// a size mismatch or an image that is the origin, the snapshot or a CoW
// file; the snapshot's stored errno if it failed; the errno of any failed
// open, read, write or fsync.
update_result update_image(const update_params& params, const snapshot_lookup& lookup,
                           const progress_callback& progress = {});

// "update-img: copied 12 blocks (0.0 MiB: 0.0 MiB written, 0.0 MiB zeroed) in 0.01 s (4.7 MiB/s)";
// when unchanged blocks were read along with them, "(... zeroed; 2.0 MiB read)".
std::string summary_line(const update_result& result);

// "update-img: CoW file /c was not closed cleanly (a crash): the incremental is a superset
// of the changes, with every block of its 3 write-intent regions of 4 MiB"
std::string recovered_line(const recovered_cow& cow);

// "update-img:  42% 1.2 GiB of 2.9 GiB, 310.5 MiB/s" (no newline)
std::string progress_line(const copy_progress& progress);

} // namespace bsnap::upd
