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
#include <uapi/bsnap_cow.h>
#include <unistd.h>
#include <zlib.h>

namespace bsnap {

static_assert(sizeof(bsnap_cow_header) <= BSNAP_COW_HEADER_SIZE);
static_assert(offsetof(bsnap_cow_header, grown_off) == BSNAP_COW_HEADER_V2_BYTES,
              "version 3 appends to the version 2 header");

cow_format_error::cow_format_error(cow_problem problem, const std::string& context)
    : format_error(context), problem_(problem) {}

namespace {

// Largest block size accepted; the format's is BSNAP_COW_BLOCK_SIZE.
constexpr std::uint32_t max_block_size = 1024 * 1024;

std::string hex(std::uint64_t value) {
    char text[24];
    std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
    return text;
}

std::string num(std::uint64_t value) {
    return std::to_string(value);
}

// zlib's crc32() of any number of bytes (one call takes at most 4 GiB).
std::uint32_t zlib_crc32(std::span<const std::uint8_t> bytes) {
    uLong crc = ::crc32(0L, Z_NULL, 0);
    constexpr std::size_t chunk = 1u << 30;
    for (std::size_t at = 0; at < bytes.size(); at += chunk)
        crc =
            ::crc32(crc, bytes.data() + at, static_cast<uInt>(std::min(chunk, bytes.size() - at)));
    return static_cast<std::uint32_t>(crc);
}

[[noreturn]] void refuse(cow_problem problem, const std::string& name, const std::string& what) {
    throw cow_format_error(problem, name + ": " + what);
}

// A little-endian integer at a byte offset of the on-disk header.
template <typename T>
T le(std::span<const std::byte> bytes, std::size_t offset) {
    T value = 0;
    for (std::size_t i = sizeof(T); i-- > 0;)
        value = static_cast<T>(value << 8 | std::to_integer<T>(bytes[offset + i]));
    return value;
}

#define BSNAP_COW_FIELD(bytes, field)                                                              \
    le<decltype(cow_header::field)>(bytes, offsetof(bsnap_cow_header, field))

std::uint64_t div_round_up(std::uint64_t n, std::uint64_t d) {
    return n / d + (n % d != 0);
}

// Checks that [off, off + len) starts at or after 'after' and ends at or
// before 'limit' without overflowing; returns its end.
std::uint64_t check_region(const std::string& name, const char* what, std::uint64_t off,
                           std::uint64_t len, std::uint64_t after, const char* after_what,
                           std::uint64_t limit) {
    std::string where = std::string(what) + " [" + num(off) + ", +" + num(len) + ")";
    if (off < after)
        refuse(cow_problem::bad_header, name,
               "bad header: " + where + " starts before the end of the " + after_what + " (" +
                   num(after) + ")");
    if (len > limit || off > limit - len)
        refuse(cow_problem::bad_header, name,
               "bad header: " + where + " ends past file_size " + num(limit));
    return off + len;
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

} // namespace

std::size_t cow_header_bytes(std::uint32_t version) {
    return version <= 2 ? BSNAP_COW_HEADER_V2_BYTES : sizeof(bsnap_cow_header);
}

std::uint32_t cow_header_crc(std::span<const std::byte> bytes, std::uint32_t version) {
    std::byte copy[sizeof(bsnap_cow_header)];
    std::size_t covered = std::min(cow_header_bytes(version), sizeof copy);
    std::memcpy(copy, bytes.data(), covered);
    std::memset(copy + offsetof(bsnap_cow_header, crc), 0, sizeof(bsnap_cow_header::crc));
    return static_cast<std::uint32_t>(::crc32(
        ::crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(copy), static_cast<uInt>(covered)));
}

cow_header decode_cow_header(std::span<const std::byte> bytes, const std::string& name) {
    if (bytes.size() < sizeof(bsnap_cow_header))
        refuse(cow_problem::truncated, name,
               "truncated: header ends at " + num(BSNAP_COW_HEADER_SIZE) + ", file is " +
                   num(bytes.size()) + " bytes");
    cow_header h;
    h.magic = BSNAP_COW_FIELD(bytes, magic);
    if (h.magic != BSNAP_COW_MAGIC)
        refuse(cow_problem::bad_magic, name,
               "bad magic " + hex(h.magic) + " (not a bsnap CoW file)");
    h.version = BSNAP_COW_FIELD(bytes, version);
    if (h.version > BSNAP_COW_VERSION)
        refuse(cow_problem::unsupported_version, name,
               "format version " + num(h.version) + " is newer than this tool reads (" +
                   num(BSNAP_COW_VERSION) + "): upgrade bsnap's tools");
    if (h.version < BSNAP_COW_VERSION_MIN)
        refuse(cow_problem::unsupported_version, name,
               "unsupported format version " + num(h.version) + " (this tool reads " +
                   num(BSNAP_COW_VERSION_MIN) + " to " + num(BSNAP_COW_VERSION) + ")");
    h.crc = BSNAP_COW_FIELD(bytes, crc);
    std::uint32_t crc = cow_header_crc(bytes, h.version);
    if (h.crc != crc)
        refuse(cow_problem::bad_checksum, name,
               "checksum mismatch (header says " + hex(h.crc) + ", computed " + hex(crc) + ")");

    h.flags = BSNAP_COW_FIELD(bytes, flags);
    h.header_size = BSNAP_COW_FIELD(bytes, header_size);
    h.block_size = BSNAP_COW_FIELD(bytes, block_size);
    std::memcpy(h.uuid.data(), bytes.data() + offsetof(bsnap_cow_header, uuid), h.uuid.size());
    h.seqid = BSNAP_COW_FIELD(bytes, seqid);
    h.device_sectors = BSNAP_COW_FIELD(bytes, device_sectors);
    h.nr_blocks = BSNAP_COW_FIELD(bytes, nr_blocks);
    h.file_size = BSNAP_COW_FIELD(bytes, file_size);
    h.bitmap_off = BSNAP_COW_FIELD(bytes, bitmap_off);
    h.bitmap_len = BSNAP_COW_FIELD(bytes, bitmap_len);
    h.index_off = BSNAP_COW_FIELD(bytes, index_off);
    h.index_len = BSNAP_COW_FIELD(bytes, index_len);
    h.data_off = BSNAP_COW_FIELD(bytes, data_off);
    h.data_used = BSNAP_COW_FIELD(bytes, data_used);
    h.changed_blocks = BSNAP_COW_FIELD(bytes, changed_blocks);
    h.bitmap_crc = BSNAP_COW_FIELD(bytes, bitmap_crc);
    if (h.version >= 3) {
        h.grown_off = BSNAP_COW_FIELD(bytes, grown_off);
        h.data_blocks = BSNAP_COW_FIELD(bytes, data_blocks);
    } else {
        // Version 2 files never grew, and every spent slot holds data.
        h.grown_off = h.file_size;
        h.data_blocks = h.data_used;
    }

    auto bad = [&name](const std::string& what) {
        refuse(cow_problem::bad_header, name, "bad header: " + what);
    };
    if (h.header_size != BSNAP_COW_HEADER_SIZE)
        bad("header size " + num(h.header_size) + ", expected " + num(BSNAP_COW_HEADER_SIZE));
    if (h.block_size < 512 || h.block_size > max_block_size || !std::has_single_bit(h.block_size))
        bad("block size " + num(h.block_size) + " is not a power of two in [512, " +
            num(max_block_size) + "]");
    std::uint32_t known_flags = BSNAP_COW_CLEAN | BSNAP_COW_INDEX_ONLY | BSNAP_COW_SUPERSEDED;
    if (h.flags & ~known_flags)
        bad("unknown flags " + hex(h.flags & ~known_flags));
    if (h.seqid == 0)
        bad("seqid 0 (sequence ids start at 1)");
    if (h.device_sectors == 0 || h.device_sectors > UINT64_MAX / 512)
        bad("device size of " + num(h.device_sectors) + " sectors");
    std::uint64_t expected_blocks = div_round_up(h.device_bytes(), h.block_size);
    if (h.nr_blocks != expected_blocks)
        bad("nr_blocks " + num(h.nr_blocks) + ", but a device of " + num(h.device_sectors) +
            " sectors has " + num(expected_blocks) + " blocks of " + num(h.block_size) + " bytes");
    if (h.changed_blocks > h.nr_blocks)
        bad("changed_blocks " + num(h.changed_blocks) + " exceeds nr_blocks " + num(h.nr_blocks));
    if (h.bitmap_len < div_round_up(h.nr_blocks, 8))
        bad("bitmap of " + num(h.bitmap_len) + " bytes cannot hold " + num(h.nr_blocks) +
            " blocks");
    if (h.index_len / sizeof(std::uint64_t) < h.nr_blocks)
        bad("index of " + num(h.index_len) + " bytes cannot hold " + num(h.nr_blocks) + " blocks");

    // Header, bitmap, index, data: in this order, inside file_size.
    std::uint64_t end = check_region(name, "bitmap", h.bitmap_off, h.bitmap_len, h.header_size,
                                     "header", h.file_size);
    end = check_region(name, "index", h.index_off, h.index_len, end, "bitmap", h.file_size);
    if (h.data_used > UINT64_MAX / h.block_size)
        bad("data_used " + num(h.data_used) + " blocks");
    check_region(name, "data", h.data_off, h.data_used * h.block_size, end, "index", h.file_size);
    // Growth adds to the data region, within the file.
    if (h.grown_off < h.data_off || h.grown_off > h.file_size)
        bad("grown_off " + num(h.grown_off) + " outside the data region [" + num(h.data_off) +
            ", " + num(h.file_size) + "]");
    if (h.data_blocks > h.data_used)
        bad("data_blocks " + num(h.data_blocks) + " exceeds data_used " + num(h.data_used));
    return h;
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
    header_ = decode_cow_header(header, name);
    const cow_header& h = header_;

    std::uint64_t bitmap_end = h.bitmap_off + h.bitmap_len; // checked by decode_cow_header
    if (file.size() < bitmap_end)
        refuse(cow_problem::truncated, name,
               "truncated: bitmap ends at " + num(bitmap_end) + ", file is " + num(file.size()) +
                   " bytes");
    if (file.size() < h.file_size)
        refuse(cow_problem::truncated, name,
               "truncated: header says " + num(h.file_size) + " bytes, file is " +
                   num(file.size()) + " bytes");
    if (!(h.flags & BSNAP_COW_CLEAN))
        refuse(cow_problem::not_clean, name,
               "not clean (not closed properly: its change bitmap may be incomplete)");

    // The whole region (bitmap_crc covers it), then only the bytes that
    // hold the nr_blocks bits; the rest is padding.
    bitmap_.resize(h.bitmap_len);
    std::size_t got = file.read(h.bitmap_off, std::as_writable_bytes(std::span(bitmap_)));
    if (got != h.bitmap_len) // the file shrank under us
        refuse(cow_problem::truncated, name,
               "truncated: bitmap ends at " + num(bitmap_end) + ", file is " +
                   num(h.bitmap_off + got) + " bytes");
    buffered_ = file.buffered();
    std::uint32_t bitmap_crc = zlib_crc32(bitmap_);
    bitmap_.resize(div_round_up(h.nr_blocks, 8));

    if (h.nr_blocks % 8 && (bitmap_.back() >> (h.nr_blocks % 8)) != 0)
        refuse(cow_problem::bad_bitmap, name,
               "bitmap has bits set past the last block (" + num(h.nr_blocks - 1) + ")");
    std::uint64_t set = count_set_bits(bitmap_, h.nr_blocks);
    if (set != h.changed_blocks)
        refuse(cow_problem::bad_bitmap, name,
               "bitmap has " + num(set) + " changed blocks, header says " + num(h.changed_blocks));
    // Catches what the count cannot: a bit moved, a block of the region
    // written elsewhere or lost.
    if (bitmap_crc != h.bitmap_crc)
        refuse(cow_problem::bad_bitmap, name,
               "bitmap checksum mismatch (header says " + hex(h.bitmap_crc) + ", computed " +
                   hex(bitmap_crc) + ")");
}

bool cow_file_reader::changed(std::uint64_t block) const {
    return block < header_.nr_blocks && (bitmap_[block / 8] >> (block % 8) & 1);
}

} // namespace bsnap
