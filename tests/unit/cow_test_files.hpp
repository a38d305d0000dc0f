// Test helpers: a temporary directory, and a tiny CoW file writer that fills
// the header exactly as <uapi/bsnap_cow.h> says (little endian, zlib crc32
// with crc = 0), independently of the reader under test.
#pragma once

#include <algorithm>
#include <bsnap/uuid.hpp>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <endian.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <uapi/bsnap_cow.h>
#include <unistd.h>
#include <vector>
#include <zlib.h>

namespace bsnap_test {

struct temp_directory {
    std::filesystem::path path;
    temp_directory() {
        char pattern[] = "/tmp/bsnap-unit-XXXXXX";
        REQUIRE(::mkdtemp(pattern) != nullptr);
        path = std::filesystem::canonical(pattern);
    }
    ~temp_directory() { std::filesystem::remove_all(path); }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

inline std::vector<char> read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

// "" if a and b are equal, else where they first differ: comparing two
// whole images in CHECK() would print megabytes on failure.
inline std::string difference(const std::vector<char>& a, const std::vector<char>& b) {
    if (a.size() != b.size())
        return "sizes " + std::to_string(a.size()) + " and " + std::to_string(b.size());
    auto [x, y] = std::mismatch(a.begin(), a.end(), b.begin());
    if (x == a.end())
        return "";
    auto at = static_cast<std::size_t>(x - a.begin());
    return "first difference at byte " + std::to_string(at) + " (block " +
           std::to_string(at / 4096) + ")";
}

inline void write_all(const std::string& path, const std::vector<char>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out);
}

inline constexpr bsnap::uuid test_uuid = {0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,
                                          0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};

inline std::uint64_t round_up(std::uint64_t n, std::uint64_t to) {
    return (n + to - 1) / to * to;
}

// A CoW file as the module lays it out: header, bitmap and index each padded
// to 4 KiB, then 16 blocks of data. Change header fields (host order) or
// bitmap bytes, then write(); seal() recomputes the crc, so a test that
// wants a bad crc changes a field after sealing.
struct cow_builder {
    struct fields {
        std::uint64_t magic = BSNAP_COW_MAGIC;
        std::uint32_t version = BSNAP_COW_VERSION;
        std::uint32_t flags = BSNAP_COW_CLEAN | BSNAP_COW_INDEX_ONLY;
        std::uint32_t header_size = BSNAP_COW_HEADER_SIZE;
        std::uint32_t block_size = BSNAP_COW_BLOCK_SIZE;
        bsnap::uuid uuid = test_uuid;
        std::uint64_t seqid = 1;
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
        std::uint32_t bitmap_crc = 0;  // seal() computes it from bitmap
        std::uint64_t grown_off = 0;   // version 3 only
        std::uint64_t data_blocks = 0; // version 3 only
    } f;
    std::vector<std::uint8_t> bitmap; // bitmap_len bytes
    std::uint32_t crc = 0;

    cow_builder(std::uint64_t device_sectors, const std::vector<std::uint64_t>& changed) {
        f.device_sectors = device_sectors;
        f.nr_blocks = (device_sectors * 512 + f.block_size - 1) / f.block_size;
        f.bitmap_off = BSNAP_COW_HEADER_SIZE;
        f.bitmap_len = round_up((f.nr_blocks + 7) / 8, 4096);
        f.index_off = f.bitmap_off + f.bitmap_len;
        f.index_len = round_up(f.nr_blocks * 8, 4096);
        f.data_off = f.index_off + f.index_len;
        f.data_used = 3;
        f.file_size = f.data_off + 16 * 4096;
        f.grown_off = f.file_size;
        f.data_blocks = f.data_used;
        bitmap.assign(f.bitmap_len, 0);
        for (std::uint64_t b : changed)
            set(b);
        f.changed_blocks = changed.size();
        seal();
    }

    void set(std::uint64_t block) { bitmap.at(block / 8) |= std::uint8_t(1u << (block % 8)); }

    bsnap_cow_header raw(std::uint32_t with_crc) const {
        bsnap_cow_header h;
        std::memset(&h, 0, sizeof h);
        h.magic = htole64(f.magic);
        h.version = htole32(f.version);
        h.flags = htole32(f.flags);
        h.header_size = htole32(f.header_size);
        h.block_size = htole32(f.block_size);
        std::memcpy(h.uuid, f.uuid.data(), sizeof h.uuid);
        h.seqid = htole64(f.seqid);
        h.device_sectors = htole64(f.device_sectors);
        h.nr_blocks = htole64(f.nr_blocks);
        h.file_size = htole64(f.file_size);
        h.bitmap_off = htole64(f.bitmap_off);
        h.bitmap_len = htole64(f.bitmap_len);
        h.index_off = htole64(f.index_off);
        h.index_len = htole64(f.index_len);
        h.data_off = htole64(f.data_off);
        h.data_used = htole64(f.data_used);
        h.changed_blocks = htole64(f.changed_blocks);
        h.crc = htole32(with_crc);
        h.bitmap_crc = htole32(f.bitmap_crc);
        // A version 2 header ends before these: its bytes there are zero
        // unless v2_tail says otherwise (the reader must ignore them).
        if (f.version >= 3) {
            h.grown_off = htole64(f.grown_off);
            h.data_blocks = htole64(f.data_blocks);
        } else {
            h.grown_off = htole64(v2_tail);
            h.data_blocks = htole64(v2_tail);
        }
        return h;
    }

    std::uint64_t v2_tail = 0;

    // Bytes of the struct the header's version has.
    std::size_t header_bytes() const {
        return f.version >= 3 ? sizeof(bsnap_cow_header) : BSNAP_COW_HEADER_V2_BYTES;
    }

    // bitmap_crc = zlib crc32 of the bitmap; crc = zlib crc32 of the
    // version's bytes of the struct with crc = 0.
    void seal() {
        f.bitmap_crc = static_cast<std::uint32_t>(::crc32(
            0L, reinterpret_cast<const Bytef*>(bitmap.data()), static_cast<uInt>(bitmap.size())));
        bsnap_cow_header h = raw(0);
        crc = static_cast<std::uint32_t>(
            ::crc32(0L, reinterpret_cast<const Bytef*>(&h), static_cast<uInt>(header_bytes())));
    }

    // Writes the file, then cuts it to truncate_to bytes if given.
    void write(const std::string& path, std::uint64_t truncate_to = UINT64_MAX) const {
        std::vector<char> head(BSNAP_COW_HEADER_SIZE, 0);
        bsnap_cow_header h = raw(crc);
        std::memcpy(head.data(), &h, sizeof h);
        {
            std::ofstream out(path, std::ios::binary | std::ios::trunc);
            out.write(head.data(), static_cast<std::streamsize>(head.size()));
            REQUIRE(out);
        }
        std::filesystem::resize_file(path, std::max<std::uint64_t>(f.file_size, 4096));
        if (!bitmap.empty() && f.bitmap_off <= f.file_size &&
            bitmap.size() <= f.file_size - f.bitmap_off) {
            std::fstream out(path, std::ios::binary | std::ios::in | std::ios::out);
            out.seekp(static_cast<std::streamoff>(f.bitmap_off));
            out.write(reinterpret_cast<const char*>(bitmap.data()),
                      static_cast<std::streamsize>(bitmap.size()));
            REQUIRE(out);
        }
        if (truncate_to != UINT64_MAX)
            std::filesystem::resize_file(path, truncate_to);
    }
};

} // namespace bsnap_test
