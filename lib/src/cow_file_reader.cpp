#include "bsnap/cow_file_reader.hpp"

#include "bsnap/unique_fd.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

// The CoW format codec, shared with the module (module/format/).
#include <cow_codec.h>

namespace bsnap {

cow_format_error::cow_format_error(cow_problem problem, const std::string& context)
    : format_error(context), problem_(problem) {}

namespace {

std::string num(std::uint64_t value) {
    return std::to_string(value);
}

[[noreturn]] void refuse(cow_problem problem, const std::string& name, const std::string& what) {
    throw cow_format_error(problem, name + ": " + what);
}

std::uint64_t div_round_up(std::uint64_t n, std::uint64_t d) {
    return n / d + (n % d != 0);
}

cow_problem problem_of(bsnap_cow_fault_kind kind) {
    switch (kind) {
    case BSNAP_COW_FAULT_SHORT:
    case BSNAP_COW_FAULT_TRUNCATED:
        return cow_problem::truncated;
    case BSNAP_COW_FAULT_MAGIC:
        return cow_problem::bad_magic;
    case BSNAP_COW_FAULT_VERSION_NEW:
    case BSNAP_COW_FAULT_VERSION_OLD:
        return cow_problem::unsupported_version;
    case BSNAP_COW_FAULT_VERSION_BAD: // found by the checksum
    case BSNAP_COW_FAULT_CRC:
        return cow_problem::bad_checksum;
    case BSNAP_COW_FAULT_BITMAP:
        return cow_problem::bad_bitmap;
    default:
        return cow_problem::bad_header;
    }
}

// Refuses with the codec's words for the fault.
[[noreturn]] void refuse(const bsnap_cow_fault& why, const std::string& name) {
    char text[256];
    std::string what = bsnap_cow_fault_text(&why, text, sizeof text);
    if (why.kind == BSNAP_COW_FAULT_VERSION_NEW)
        what += ": upgrade bsnap's tools";
    refuse(problem_of(why.kind), name, what);
}

// Decodes and checks the header with the codec; file_bytes: the file's size.
// layout: if not null, the file's layout.
bsnap_cow_info decode_info(std::span<const std::byte> bytes, std::uint64_t file_bytes,
                           const std::string& name, bsnap_cow_layout* layout = nullptr) {
    bsnap_cow_info info;
    bsnap_cow_fault why;
    if (bsnap_cow_info_read(bytes.data(), bytes.size(), file_bytes, &info, layout, &why))
        refuse(why, name);
    return info;
}

cow_header header_of(const bsnap_cow_info& info) {
    cow_header h;
    h.magic = info.magic;
    h.version = info.version;
    h.flags = info.flags;
    h.header_size = info.header_size;
    h.block_size = info.block_size;
    std::memcpy(h.uuid.data(), info.uuid, h.uuid.size());
    h.seqid = info.seqid;
    h.device_sectors = info.device_sectors;
    h.nr_blocks = info.nr_blocks;
    h.file_size = info.file_size;
    h.bitmap_off = info.bitmap_off;
    h.bitmap_len = info.bitmap_len;
    h.index_off = info.index_off;
    h.index_len = info.index_len;
    h.data_off = info.data_off;
    h.data_used = info.data_used;
    h.changed_blocks = info.changed_blocks;
    h.crc = info.crc;
    h.bitmap_crc = info.bitmap_crc;
    h.grown_off = info.grown_off;
    h.data_blocks = info.data_blocks;
    h.intent_off = info.intent_off;
    h.intent_len = info.intent_len;
    h.intent_shift = info.intent_shift;
    return h;
}

// An aligned, reusable bounce buffer for O_DIRECT reads.
struct free_deleter {
    void operator()(void* p) const { std::free(p); }
};

constexpr std::size_t io_align = 4096;
constexpr std::size_t bounce_size = 1024 * 1024;

// The CoW file opened for reading past the page cache.
class uncached_file {
  public:
    uncached_file(const std::filesystem::path& path, const std::string& name) : name_(name) {
        int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
        if (fd >= 0) {
            fd_.reset(fd);
            direct_ = true;
        } else if (errno == EINVAL) {
            fd_ = open_fd(path, O_RDONLY);
            drop_cache();
        } else {
            throw_errno("open " + path.string());
        }
        struct stat st;
        if (::fstat(fd_.get(), &st) < 0)
            throw_errno("stat " + name_);
        if (!S_ISREG(st.st_mode))
            throw errno_error(EINVAL, name_ + ": not a regular file");
        size_ = static_cast<std::uint64_t>(st.st_size);
    }

    std::uint64_t size() const { return size_; }
    bool buffered() const { return !direct_; }

    // Reads up to out.size() bytes at offset; fewer only at the end of the file.
    std::size_t read(std::uint64_t offset, std::span<std::byte> out) {
        std::size_t done = 0;
        while (done < out.size()) {
            std::size_t n = direct_ ? read_direct(offset + done, out.subspan(done))
                                    : read_buffered(offset + done, out.subspan(done));
            if (n == 0)
                break;
            done += n;
        }
        return done;
    }

  private:
    void drop_cache() {
        // Best effort: without it a stale page could hide the module's writes.
        (void)::posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_DONTNEED);
    }

    ssize_t pread_retry(void* buf, std::size_t len, std::uint64_t offset) {
        ssize_t n;
        do {
            n = ::pread(fd_.get(), buf, len, static_cast<off_t>(offset));
        } while (n < 0 && errno == EINTR);
        return n;
    }

    std::size_t read_buffered(std::uint64_t offset, std::span<std::byte> out) {
        ssize_t n = pread_retry(out.data(), out.size(), offset);
        if (n < 0)
            throw_errno("read " + name_ + " at offset " + num(offset));
        return static_cast<std::size_t>(n);
    }

    // One aligned read around [offset, ...) through the bounce buffer.
    std::size_t read_direct(std::uint64_t offset, std::span<std::byte> out) {
        if (!bounce_) {
            bounce_.reset(static_cast<std::byte*>(std::aligned_alloc(io_align, bounce_size)));
            if (!bounce_)
                throw std::bad_alloc();
        }
        std::uint64_t start = offset - offset % io_align;
        std::size_t skip = static_cast<std::size_t>(offset - start);
        std::size_t want = std::min(bounce_size, skip + out.size());
        want = (want + io_align - 1) / io_align * io_align;
        ssize_t n = pread_retry(bounce_.get(), want, start);
        if (n < 0 && errno == EINVAL) {
            // The device wants a larger alignment: read through the (dropped) cache.
            if (::fcntl(fd_.get(), F_SETFL, ::fcntl(fd_.get(), F_GETFL) & ~O_DIRECT) < 0)
                throw_errno("read " + name_);
            direct_ = false;
            drop_cache();
            return read_buffered(offset, out);
        }
        if (n < 0)
            throw_errno("read " + name_ + " at offset " + num(offset));
        if (static_cast<std::size_t>(n) <= skip)
            return 0;
        std::size_t got = std::min(out.size(), static_cast<std::size_t>(n) - skip);
        std::memcpy(out.data(), bounce_.get() + skip, got);
        return got;
    }

    std::string name_;
    unique_fd fd_;
    bool direct_ = false;
    std::uint64_t size_ = 0;
    std::unique_ptr<std::byte, free_deleter> bounce_;
};

// The index of the first bit at or after 'from' that equals 'value', or nr_bits.
std::uint64_t find_bit(const std::uint8_t* bits, std::uint64_t nr_bits, std::uint64_t from,
                       bool value) {
    const std::uint8_t skip_byte = value ? 0x00 : 0xff;
    std::uint64_t b = from;
    while (b < nr_bits) {
        if (b % 8 == 0) {
            // Whole words, then whole bytes, that cannot hold the bit.
            std::uint64_t byte = b / 8;
            std::uint64_t nr_bytes = nr_bits / 8;
            const std::uint64_t skip_word = value ? 0 : ~std::uint64_t{0};
            while (byte + 8 <= nr_bytes) {
                std::uint64_t word;
                std::memcpy(&word, bits + byte, sizeof word);
                if (word != skip_word)
                    break;
                byte += 8;
            }
            while (byte < nr_bytes && bits[byte] == skip_byte)
                ++byte;
            b = byte * 8;
            if (b >= nr_bits)
                break;
        }
        unsigned byte_bits = value ? bits[b / 8] : static_cast<std::uint8_t>(~bits[b / 8]);
        byte_bits >>= b % 8;
        if (byte_bits != 0)
            return std::min(nr_bits, b + static_cast<unsigned>(std::countr_zero(byte_bits)));
        b = (b / 8 + 1) * 8;
    }
    return nr_bits;
}

// Reads [offset, offset + len) of the file: a region of a checked header,
// so inside the file and no larger than it. what: the region's name.
std::vector<std::uint8_t> read_region(uncached_file& file, std::uint64_t offset, std::uint64_t len,
                                      const std::string& what, const std::string& name) {
    std::vector<std::uint8_t> bytes(len);
    std::size_t got = file.read(offset, std::as_writable_bytes(std::span(bytes)));
    if (got != len) // the file shrank under us
        refuse(cow_problem::truncated, name,
               "truncated: " + what + " ends at " + num(offset + len) + ", file is " +
                   num(offset + got) + " bytes");
    return bytes;
}

// True if a bit of bitmap at or past bit nr_bits is set.
bool bits_past(std::span<const std::uint8_t> bitmap, std::uint64_t nr_bits) {
    std::uint64_t byte = nr_bits / 8;
    if (byte >= bitmap.size())
        return false;
    if (nr_bits % 8 && (bitmap[byte++] >> (nr_bits % 8)) != 0)
        return true;
    return std::any_of(bitmap.begin() + static_cast<std::ptrdiff_t>(byte), bitmap.end(),
                       [](std::uint8_t b) { return b != 0; });
}

// Sets bits [first, end) of bitmap.
void set_bits(std::span<std::uint8_t> bitmap, std::uint64_t first, std::uint64_t end) {
    for (; first < end && first % 8; ++first)
        bitmap[first / 8] |= static_cast<std::uint8_t>(1u << (first % 8));
    std::uint64_t whole_end = std::max(first, end / 8 * 8);
    std::fill(bitmap.begin() + static_cast<std::ptrdiff_t>(first / 8),
              bitmap.begin() + static_cast<std::ptrdiff_t>(whole_end / 8), std::uint8_t{0xff});
    for (first = whole_end; first < end; ++first)
        bitmap[first / 8] |= static_cast<std::uint8_t>(1u << (first % 8));
}

// Sets in bitmap (the change record of layout's device) every block of each
// region set in the file's write-intent bitmap; returns the regions set.
std::uint64_t add_intent_regions(std::span<std::uint8_t> bitmap, uncached_file& file,
                                 const bsnap_cow_layout& layout, const std::string& name) {
    std::vector<std::uint8_t> intent =
        read_region(file, layout.intent_off, layout.intent_len, "write-intent bitmap", name);
    if (bits_past(intent, layout.nr_regions))
        refuse(cow_problem::bad_bitmap, name,
               "write-intent bitmap has bits set past the last region (" +
                   num(layout.nr_regions - 1) + ")");
    std::uint64_t regions = 0;
    for (const block_run& run : block_runs(intent, layout.nr_regions)) {
        std::uint64_t first, unused, end;
        bsnap_cow_region_blocks(&layout, run.first, &first, &unused);
        bsnap_cow_region_blocks(&layout, run.end() - 1, &unused, &end);
        set_bits(bitmap, first, end);
        regions += run.count;
    }
    return regions;
}

} // namespace

cow_header decode_cow_header(std::span<const std::byte> bytes, std::uint64_t file_bytes,
                             const std::string& name) {
    return header_of(decode_info(bytes, file_bytes, name));
}

block_runs::iterator::iterator(const std::uint8_t* bits, std::uint64_t nr_bits, std::uint64_t from)
    : bits_(bits), nr_bits_(nr_bits) {
    std::uint64_t first = find_bit(bits_, nr_bits_, from, true);
    if (first < nr_bits_)
        run_ = {first, find_bit(bits_, nr_bits_, first, false) - first};
}

block_runs::iterator& block_runs::iterator::operator++() {
    *this = iterator(bits_, nr_bits_, run_.end());
    return *this;
}

block_runs::block_runs(std::span<const std::uint8_t> bitmap, std::uint64_t nr_bits)
    : bitmap_(bitmap), nr_bits_(std::min<std::uint64_t>(nr_bits, bitmap.size() * 8)) {}

std::uint64_t count_set_bits(std::span<const std::uint8_t> bitmap, std::uint64_t nr_bits) {
    nr_bits = std::min<std::uint64_t>(nr_bits, bitmap.size() * 8);
    std::uint64_t whole = nr_bits / 8;
    std::uint64_t count = 0;
    std::uint64_t i = 0;
    for (; i + 8 <= whole; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, bitmap.data() + i, sizeof word);
        count += static_cast<std::uint64_t>(std::popcount(word));
    }
    for (; i < whole; ++i)
        count += static_cast<std::uint64_t>(std::popcount(bitmap[i]));
    if (nr_bits % 8)
        count += static_cast<std::uint64_t>(
            std::popcount(static_cast<unsigned>(bitmap[whole] & ((1u << (nr_bits % 8)) - 1))));
    return count;
}

cow_file_reader::cow_file_reader(const std::filesystem::path& path) : path_(path) {
    const std::string name = "CoW file " + path.string();
    uncached_file file(path, name);

    std::vector<std::byte> header(BSNAP_COW_HEADER_SIZE);
    header.resize(file.read(0, header));
    // The codec bounds every region by file_size, and file_size by the
    // file's size: bitmap_len and intent_len below are safe to allocate.
    bsnap_cow_layout layout;
    const bsnap_cow_info info = decode_info(header, file.size(), name, &layout);
    header_ = header_of(info);
    const cow_header& h = header_;

    // Whatever else it says: BROKEN is sticky, the chain has a gap.
    if (h.flags & BSNAP_COW_BROKEN)
        refuse(cow_problem::broken, name,
               "broken chain (a change may be missing): take a full backup");
    recovered_ = bsnap_cow_intent_recoverable(&info);
    if (!(h.flags & BSNAP_COW_CLEAN) && !recovered_)
        refuse(cow_problem::not_clean, name,
               "not clean (not closed properly: its change bitmap may be incomplete)");

    // The whole region (bitmap_crc covers it), then only the bytes that
    // hold the nr_blocks bits; the rest is padding.
    bitmap_ = read_region(file, h.bitmap_off, h.bitmap_len, "bitmap", name);
    const std::size_t bitmap_bytes = div_round_up(h.nr_blocks, 8);
    // No crc covers the padding of a recovered file's bitmap: check it all.
    std::span<const std::uint8_t> checked(bitmap_.data(),
                                          recovered_ ? bitmap_.size() : bitmap_bytes);
    if (bits_past(checked, h.nr_blocks))
        refuse(cow_problem::bad_bitmap, name,
               "bitmap has bits set past the last block (" + num(h.nr_blocks - 1) + ")");

    if (recovered_) {
        // Neither bitmap_crc nor changed_blocks describe a bitmap written
        // while in use: the write intent covers what it may lack.
        bitmap_.resize(bitmap_bytes);
        intent_regions_ = add_intent_regions(bitmap_, file, layout, name);
        changed_blocks_ = count_set_bits(bitmap_, h.nr_blocks);
    } else {
        bsnap_cow_fault bitmap_fault;
        bool bitmap_intact = bsnap_cow_bitmap_check(&info, bitmap_.data(), &bitmap_fault) == 0;
        bitmap_.resize(bitmap_bytes);
        std::uint64_t set = count_set_bits(bitmap_, h.nr_blocks);
        if (set != h.changed_blocks)
            refuse(cow_problem::bad_bitmap, name,
                   "bitmap has " + num(set) + " changed blocks, header says " +
                       num(h.changed_blocks));
        // Catches what the count cannot: a bit moved, a block of the region
        // written elsewhere or lost.
        if (!bitmap_intact)
            refuse(bitmap_fault, name);
        changed_blocks_ = h.changed_blocks;
    }
    buffered_ = file.buffered();
}

cow_header read_cow_header(const std::filesystem::path& path) {
    const std::string name = "CoW file " + path.string();
    uncached_file file(path, name);
    std::vector<std::byte> header(BSNAP_COW_HEADER_SIZE);
    header.resize(file.read(0, header));
    return header_of(decode_info(header, file.size(), name));
}

bool cow_file_reader::changed(std::uint64_t block) const {
    return block < header_.nr_blocks && block / 8 < bitmap_.size() &&
           (bitmap_[block / 8] >> (block % 8) & 1);
}

std::uint64_t cow_file_reader::region_bytes() const {
    return header_.intent_shift ? std::uint64_t{1} << header_.intent_shift : 0;
}

std::vector<std::uint8_t> cow_file_reader::take_bitmap() && {
    changed_blocks_ = 0;
    return std::exchange(bitmap_, {});
}

} // namespace bsnap
