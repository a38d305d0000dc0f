// Test helpers: a temporary directory, and a CoW file writer that lays out
// and encodes files with the module's own codec (module/format/), so the
// files are what the module writes.
#pragma once

#include <algorithm>
#include <bsnap/uuid.hpp>
#include <catch2/catch.hpp>
#include <cow_codec.h>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <endian.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <vector>

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

// A CoW file exactly as the module writes it, through the same codec
// (module/format/cow_codec.h): the layout of its version for the device, a
// header encoded by the codec, the metadata region [0, index_off) written
// (zeros, then header, bitmap and usable-space table), the index and data
// regions left sparse (the module's read as zeros too), 16 blocks of data.
// Change header fields (host order), bitmap or write-intent bytes, then
// write(); seal() recomputes bitmap_crc, ranges_crc and the header crc, so a
// test that wants a bad crc changes a field after sealing.
//
// A file the module left at a crash (version 4): crash() makes it not clean
// (BROKEN too if asked); bits set() or set_region() after it are the pages
// the module wrote while in use, which neither bitmap_crc nor changed_blocks
// describe.
struct cow_builder {
    using fields = bsnap_cow_info;
    bsnap_cow_layout layout{}; // where write() puts the regions, whatever f says
    fields f{};
    std::vector<std::uint8_t> bitmap;         // bitmap_len bytes
    std::vector<bsnap_cow_range_disk> ranges; // the usable-space table (version 3)
    std::vector<std::uint8_t> intent;         // write-intent bitmap: intent_len bytes (version 4)
    std::uint32_t crc = 0;
    // A version 2 header ends before grown_off: its bytes there are zero
    // unless v2_tail says otherwise (readers must ignore them).
    std::uint64_t v2_tail = 0;

    cow_builder(std::uint64_t device_sectors, const std::vector<std::uint64_t>& changed,
                std::uint32_t version = BSNAP_COW_VERSION) {
        REQUIRE(bsnap_cow_layout_init(&layout, version, device_sectors) == 0);
        bsnap_cow_info_init(&f, &layout, layout.data_off + 16 * 4096);
        f.flags = BSNAP_COW_CLEAN | BSNAP_COW_INDEX_ONLY;
        std::memcpy(f.uuid, test_uuid.data(), sizeof f.uuid);
        f.seqid = 1;
        f.data_used = 3;
        f.data_blocks = version >= 3 ? 3 : 0;
        bitmap.assign(f.bitmap_len, 0);
        intent.assign(layout.intent_len, 0);
        for (std::uint64_t b : changed)
            set(b);
        f.changed_blocks = changed.size();
        seal();
    }

    void set(std::uint64_t block) { bitmap.at(block / 8) |= std::uint8_t(1u << (block % 8)); }

    // Sets write-intent region @region's bit (version 4).
    void set_region(std::uint64_t region) {
        intent.at(region / 8) |= std::uint8_t(1u << (region % 8));
    }

    // Not clean from now on, as a crash leaves the file; BROKEN if @broken.
    // The header is sealed again; the bitmap's crc stays the last one.
    void crash(bool broken = false) {
        f.flags &= ~BSNAP_COW_CLEAN;
        if (broken)
            f.flags |= BSNAP_COW_BROKEN;
        bsnap_cow_header h;
        bsnap_cow_info_to_disk(&f, &h);
        crc = le32toh(h.crc);
    }

    // The header block as the codec encodes f, with crc with_crc.
    std::vector<char> header_block(std::uint32_t with_crc) const {
        std::vector<char> block(BSNAP_COW_HEADER_SIZE, 0);
        bsnap_cow_header h;
        bsnap_cow_info_to_disk(&f, &h);
        h.crc = htole32(with_crc);
        if (f.version == 2) {
            h.grown_off = htole64(v2_tail);
            h.data_blocks = htole64(v2_tail);
        }
        std::memcpy(block.data(), &h, sizeof h);
        return block;
    }

    // bitmap_crc, the header crc and, if ranges holds a table, nr_ranges and
    // ranges_crc, as the codec computes them.
    void seal() {
        f.bitmap_crc = bsnap_cow_crc(bitmap.data(), bitmap.size());
        if (f.version >= 3 && !ranges.empty()) {
            f.nr_ranges = static_cast<std::uint32_t>(ranges.size());
            f.ranges_crc = bsnap_cow_ranges_crc(ranges.data(), f.nr_ranges);
        }
        bsnap_cow_header h;
        bsnap_cow_info_to_disk(&f, &h);
        crc = le32toh(h.crc);
    }

    // Writes the file, then cuts it to truncate_to bytes if given.
    void write(const std::string& path, std::uint64_t truncate_to = UINT64_MAX) const {
        std::vector<char> meta(layout.index_off, 0);
        std::vector<char> head = header_block(crc);
        std::copy(head.begin(), head.end(), meta.begin());
        std::memcpy(meta.data() + layout.bitmap_off, bitmap.data(),
                    std::min<std::size_t>(bitmap.size(), layout.bitmap_len));
        if (!intent.empty())
            std::memcpy(meta.data() + layout.intent_off, intent.data(),
                        std::min<std::size_t>(intent.size(), layout.intent_len));
        if (layout.ranges_len && !ranges.empty())
            std::memcpy(meta.data() + f.ranges_off, ranges.data(),
                        std::min<std::size_t>(ranges.size() * sizeof ranges[0], layout.ranges_len));
        write_all(path, meta);
        std::filesystem::resize_file(path, std::max<std::uint64_t>(f.file_size, 4096));
        if (truncate_to != UINT64_MAX)
            std::filesystem::resize_file(path, truncate_to);
    }
};

} // namespace bsnap_test
