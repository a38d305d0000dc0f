// Reading a CoW file written by the module (format: <uapi/bsnap_cow.h>): its
// header, checked, and its change record as runs of changed blocks.
//
// The module writes the header and the bitmaps straight to the file's disk
// blocks, so the page cache may hold an older copy: the file is read with
// O_DIRECT, or, where the filesystem refuses it, buffered after dropping the
// cached pages (posix_fadvise DONTNEED).
//
// The changes a file records are its change bitmap's blocks, with one
// exception: a version 4 file that is not clean and not BROKEN was left by a
// crash while the device was in use, and its write intent makes it usable
// (issue 15). Its bitmap and bitmap_crc were written at different times, so
// neither the crc nor changed_blocks describe the bitmap; its changes are
// the bitmap's blocks plus every block of each region set in its
// write-intent bitmap: a superset of what changed (recovered() says so).
//
// A file is refused with a cow_format_error (EBADMSG) unless it is a complete,
// consistent file of a version this build reads, cleanly closed or
// recoverable as above; what() reads "CoW file <path>: <problem>: Bad
// message", e.g.
//   "CoW file /cow: bad magic 0x0 (not a bsnap CoW file)"
//   "CoW file /cow: truncated: header says 90112 bytes, file is 6000 bytes"
//   "CoW file /cow: bad header: bitmap_len 2147483648, expected 4096"
//   "CoW file /cow: not clean (not closed properly: its change bitmap may be incomplete)"
//   "CoW file /cow: broken chain (a change may be missing): take a full backup"
//   "CoW file /cow: checksum mismatch (header says 0x1234abcd, computed 0x5678ef01)"
// Errors reading the file are std::system_error with their errno.
#pragma once

#include "bsnap/errors.hpp"
#include "bsnap/uuid.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <span>
#include <string>
#include <vector>

namespace bsnap {

// Why a CoW file was refused.
enum class cow_problem {
    bad_magic,           // not a bsnap CoW file
    unsupported_version, // newer (or older) than this build reads
    bad_checksum,        // the header's crc does not match its contents
    bad_header,          // sizes or offsets impossible or inconsistent
    truncated,           // shorter than its header says
    not_clean,           // not closed properly: the bitmap may be incomplete
    broken,              // BROKEN: a change may be missing, only a full backup helps
    bad_bitmap,          // set bits do not match changed_blocks or bitmap_crc, or lie past the end
};

class cow_format_error : public format_error {
  public:
    cow_format_error(cow_problem problem, const std::string& context);
    cow_problem problem() const { return problem_; }

  private:
    cow_problem problem_;
};

// The header's fields in host byte order.
struct cow_header {
    std::uint64_t magic = 0;
    std::uint32_t version = 0;
    std::uint32_t flags = 0; // BSNAP_COW_*
    std::uint32_t header_size = 0;
    std::uint32_t block_size = 0;
    bsnap::uuid uuid{};
    std::uint64_t seqid = 0;
    std::uint64_t device_sectors = 0;
    std::uint64_t nr_blocks = 0;
    std::uint64_t file_size = 0;
    std::uint64_t bitmap_off = 0;
    std::uint64_t bitmap_len = 0;
    std::uint64_t index_off = 0;
    std::uint64_t index_len = 0;
    std::uint64_t data_off = 0;
    std::uint64_t data_used = 0;
    std::uint64_t changed_blocks = 0;
    std::uint32_t crc = 0;
    std::uint32_t bitmap_crc = 0; // zlib crc32() of the bitmap_len bytes of the bitmap
    // Version 3; from a version 2 header: file_size and data_used.
    std::uint64_t grown_off = 0;   // file bytes from here on were added after the snapshot
    std::uint64_t data_blocks = 0; // data slots holding data (<= data_used)
    // Version 4: the write-intent bitmap; 0 before.
    std::uint64_t intent_off = 0;
    std::uint64_t intent_len = 0;
    std::uint32_t intent_shift = 0; // log2 of a write-intent region's bytes

    std::uint64_t device_bytes() const { return device_sectors * 512; }
    bool operator==(const cow_header&) const = default;
};

// Decodes the on-disk header (at least sizeof(bsnap_cow_header) bytes) of
// any version from BSNAP_COW_VERSION_MIN to BSNAP_COW_VERSION and checks it
// with the format codec shared with the module (module/format/cow_codec.h,
// which documents the checks and their order): magic, version, crc, every
// field against the layout of its version and device size, and every region
// within file_size, itself at most file_bytes (the file's size). name: what
// messages call the file ("CoW file /x"). Throws cow_format_error. Does not
// look at CLEAN (the caller decides).
cow_header decode_cow_header(std::span<const std::byte> bytes, std::uint64_t file_bytes,
                             const std::string& name);

// Reads (past the page cache, as cow_file_reader does) and checks the
// header of the CoW file at path, as decode_cow_header does with the file's
// size: also a file that is not clean (in use by the module, or left by a
// crash), whose bitmap is not read. Throws cow_format_error or
// std::system_error.
cow_header read_cow_header(const std::filesystem::path& path);

// A run of consecutive changed blocks.
struct block_run {
    std::uint64_t first = 0;
    std::uint64_t count = 0;

    std::uint64_t end() const { return first + count; }
    bool operator==(const block_run&) const = default;
};

// The maximal runs of set bits of a bitmap of nr_bits bits (bit b: byte b / 8,
// bit b % 8, least significant first), in increasing order. A view: the
// bitmap must outlive it.
class block_runs {
  public:
    class iterator {
      public:
        using value_type = block_run;
        using difference_type = std::ptrdiff_t;

        iterator() = default;
        const block_run& operator*() const { return run_; }
        const block_run* operator->() const { return &run_; }
        iterator& operator++();
        iterator operator++(int) {
            iterator old = *this;
            ++*this;
            return old;
        }
        bool operator==(const iterator& other) const {
            return bits_ == other.bits_ && run_ == other.run_;
        }
        bool operator==(std::default_sentinel_t) const { return run_.count == 0; }

      private:
        friend class block_runs;
        iterator(const std::uint8_t* bits, std::uint64_t nr_bits, std::uint64_t from);

        const std::uint8_t* bits_ = nullptr;
        std::uint64_t nr_bits_ = 0;
        block_run run_; // count 0: the end
    };

    block_runs(std::span<const std::uint8_t> bitmap, std::uint64_t nr_bits);
    iterator begin() const { return iterator(bitmap_.data(), nr_bits_, 0); }
    // The runs that start at or after bit from (a run that holds from is
    // cut there).
    iterator from(std::uint64_t bit) const { return iterator(bitmap_.data(), nr_bits_, bit); }
    std::default_sentinel_t end() const { return {}; }

  private:
    std::span<const std::uint8_t> bitmap_;
    std::uint64_t nr_bits_;
};

// Set bits among the first nr_bits bits of bitmap.
std::uint64_t count_set_bits(std::span<const std::uint8_t> bitmap, std::uint64_t nr_bits);

class cow_file_reader {
  public:
    // Opens, reads and checks the file: header as in decode_cow_header, the
    // regions inside the file on disk, not BROKEN, and either CLEAN with a
    // bitmap whose set bits number exactly changed_blocks and match
    // bitmap_crc, or recoverable (version 4, see above). No bit may be set
    // past nr_blocks, nor in the write-intent bitmap past the last region.
    // Nothing is allocated before the header is checked: the bitmaps are
    // then exactly what nr_blocks needs and lie inside the file. (A header
    // consistent with itself for a huge device, in a sparse file as large as
    // its layout, still costs the bitmap that device would need.) Throws
    // cow_format_error, or std::system_error "open <path>: ..." /
    // "read CoW file <path>: ..." for I/O errors.
    explicit cow_file_reader(const std::filesystem::path& path);

    const std::filesystem::path& path() const { return path_; }
    const cow_header& header() const { return header_; }

    const bsnap::uuid& uuid() const { return header_.uuid; }
    std::uint64_t seqid() const { return header_.seqid; }
    std::uint32_t flags() const { return header_.flags; }
    std::uint64_t device_sectors() const { return header_.device_sectors; }
    std::uint64_t device_bytes() const { return header_.device_bytes(); }
    std::uint64_t nr_blocks() const { return header_.nr_blocks; }
    std::uint32_t block_size() const { return header_.block_size; }
    // Blocks of the change record: header().changed_blocks for a clean
    // file, the blocks of the bitmap and its regions for a recovered one.
    std::uint64_t changed_blocks() const { return changed_blocks_; }
    std::uint32_t version() const { return header_.version; }
    std::uint64_t grown_off() const { return header_.grown_off; }
    std::uint64_t data_blocks() const { return header_.data_blocks; }
    // True if O_DIRECT was refused and the file was read through the page cache.
    bool buffered() const { return buffered_; }

    // Not closed cleanly (a crash), yet usable thanks to its write intent:
    // its changes are a superset, every block of intent_regions() regions of
    // region_bytes() each besides the bitmap's blocks.
    bool recovered() const { return recovered_; }
    // Regions set in the write-intent bitmap of a recovered file, else 0.
    std::uint64_t intent_regions() const { return intent_regions_; }
    // Bytes of a write-intent region (version 4), else 0.
    std::uint64_t region_bytes() const;

    // The change record, one bit a block: ceil(nr_blocks / 8) bytes. For a
    // recovered file, the bitmap with every block of its regions set.
    std::span<const std::uint8_t> bitmap() const { return bitmap_; }
    bool changed(std::uint64_t block) const;
    block_runs runs() const { return block_runs(bitmap_, header_.nr_blocks); }
    // The change record moved out, for a caller done with the reader (which
    // then has no changed block): saves a copy of a bitmap that can be
    // hundreds of MiB.
    std::vector<std::uint8_t> take_bitmap() &&;

  private:
    std::filesystem::path path_;
    cow_header header_;
    std::vector<std::uint8_t> bitmap_;
    std::uint64_t changed_blocks_ = 0;
    std::uint64_t intent_regions_ = 0;
    bool recovered_ = false;
    bool buffered_ = false;
};

} // namespace bsnap
