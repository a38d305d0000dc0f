// The CoW format codec (module/format/cow_codec.c, the source bsnap.ko
// compiles too), on the host: layout, encoding byte for byte against
// <uapi/bsnap_cow.h> and zlib, round trips, and every refusal.
#include "allocation_probe.hpp"
#include "cow_test_files.hpp"

#include <algorithm>
#include <bsnap/cow_file_reader.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cow_codec.h>
#include <cstring>
#include <functional>
#include <zlib.h>

using namespace bsnap;
using namespace bsnap_test;
using Catch::Matchers::Contains;

namespace {

// 130 full blocks and a last one of 1 KiB: 131 blocks.
constexpr std::uint64_t device_sectors = 130 * 8 + 2;
constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t GiB = 1024 * MiB;

bsnap_cow_layout layout_of(std::uint32_t version, std::uint64_t sectors = device_sectors) {
    bsnap_cow_layout l;
    REQUIRE(bsnap_cow_layout_init(&l, version, sectors) == 0);
    return l;
}

// A header with every field set to something of its own.
bsnap_cow_info sample(std::uint32_t version = BSNAP_COW_VERSION) {
    bsnap_cow_layout l = layout_of(version);
    bsnap_cow_info h;
    bsnap_cow_info_init(&h, &l, l.data_off + 64 * 4096);
    h.flags = BSNAP_COW_CLEAN | BSNAP_COW_SUPERSEDED;
    std::memcpy(h.uuid, test_uuid.data(), sizeof h.uuid);
    h.seqid = 5;
    h.data_used = 40;
    h.changed_blocks = 3;
    h.probe_crc = 0x01020304;
    h.bitmap_crc = 0x05060708;
    if (version >= 3) {
        h.grown_off = l.data_off + 32 * 4096;
        h.data_blocks = 37;
        h.ranges_off = l.ranges_base + l.ranges_len;
        h.nr_ranges = 2;
        h.ranges_crc = 0x0a0b0c0d;
    } else {
        h.data_blocks = h.data_used;
    }
    return h;
}

using block = std::vector<unsigned char>;

block encode(const bsnap_cow_info& h) {
    block b(BSNAP_COW_HEADER_SIZE, 0);
    bsnap_cow_header disk;
    bsnap_cow_info_to_disk(&h, &disk);
    std::memcpy(b.data(), &disk, sizeof disk);
    return b;
}

// A little-endian integer of the block, read by hand.
std::uint64_t le_at(const block& b, std::size_t offset, std::size_t size) {
    std::uint64_t value = 0;
    for (std::size_t i = size; i-- > 0;)
        value = value << 8 | b.at(offset + i);
    return value;
}

void put_le(block& b, std::size_t offset, std::size_t size, std::uint64_t value) {
    for (std::size_t i = 0; i < size; ++i, value >>= 8)
        b.at(offset + i) = static_cast<unsigned char>(value);
}

// zlib over the covered bytes with the crc field zero: the format's rule.
std::uint32_t zlib_header_crc(block b, std::size_t covered) {
    put_le(b, offsetof(bsnap_cow_header, crc), 4, 0);
    return static_cast<std::uint32_t>(::crc32(0L, b.data(), static_cast<uInt>(covered)));
}

// The block with its crc recomputed (for a header that is meant to be
// intact but for one field).
block resealed(block b, std::size_t covered) {
    put_le(b, offsetof(bsnap_cow_header, crc), 4, zlib_header_crc(b, covered));
    return b;
}

struct verdict {
    int ret = 0;
    bsnap_cow_fault why{};
    bsnap_cow_info info{};
    bsnap_cow_layout layout{};
};

verdict read(const block& b, std::uint64_t file_bytes = UINT64_MAX,
             std::size_t len = BSNAP_COW_HEADER_SIZE) {
    verdict v;
    v.ret = bsnap_cow_info_read(b.data(), len, file_bytes, &v.info, &v.layout, &v.why);
    return v;
}

std::string text_of(const bsnap_cow_fault& why) {
    char text[256];
    return bsnap_cow_fault_text(&why, text, sizeof text);
}

// The kernel's crc32_le(), bit by bit: what cow_port.h calls in bsnap.ko.
std::uint32_t kernel_crc32_le(std::uint32_t crc, const unsigned char* p, std::size_t len) {
    while (len--) {
        crc ^= *p++;
        for (int i = 0; i < 8; ++i)
            crc = (crc >> 1) ^ (crc & 1 ? 0xedb88320u : 0);
    }
    return crc;
}

// Every byte of the header's field-by-field encoding, as bsnap_cow.h says.
void check_fields(const block& b, const bsnap_cow_info& h) {
#define FIELD(name) le_at(b, offsetof(bsnap_cow_header, name), sizeof(bsnap_cow_header::name))
    CHECK(FIELD(magic) == 0x574f43504e534230ULL);
    CHECK(std::memcmp(b.data(), "0BSNPCOW", 8) == 0);
    CHECK(FIELD(version) == h.version);
    CHECK(FIELD(flags) == h.flags);
    CHECK(FIELD(header_size) == 4096);
    CHECK(FIELD(block_size) == 4096);
    CHECK(std::memcmp(b.data() + offsetof(bsnap_cow_header, uuid), test_uuid.data(), 16) == 0);
    CHECK(FIELD(seqid) == h.seqid);
    CHECK(FIELD(device_sectors) == h.device_sectors);
    CHECK(FIELD(nr_blocks) == h.nr_blocks);
    CHECK(FIELD(file_size) == h.file_size);
    CHECK(FIELD(bitmap_off) == h.bitmap_off);
    CHECK(FIELD(bitmap_len) == h.bitmap_len);
    CHECK(FIELD(index_off) == h.index_off);
    CHECK(FIELD(index_len) == h.index_len);
    CHECK(FIELD(data_off) == h.data_off);
    CHECK(FIELD(data_used) == h.data_used);
    CHECK(FIELD(changed_blocks) == h.changed_blocks);
    CHECK(FIELD(valid_off) == h.valid_off);
    CHECK(FIELD(valid_len) == h.valid_len);
    CHECK(FIELD(probe_crc) == h.probe_crc);
    CHECK(FIELD(bitmap_crc) == h.bitmap_crc);
#undef FIELD
}

} // namespace

TEST_CASE("the codec lays out a CoW file as the module always has", "[codec]") {
    // 131 blocks: one block each of bitmap, valid bitmap and index.
    bsnap_cow_layout v3 = layout_of(3);
    CHECK(v3.version == 3);
    CHECK(v3.device_sectors == device_sectors);
    CHECK(v3.nr_blocks == 131);
    CHECK(v3.bitmap_off == 4096);
    CHECK(v3.bitmap_len == 4096);
    CHECK(v3.valid_off == 8192);
    CHECK(v3.valid_len == 4096);
    CHECK(v3.ranges_base == 12288);
    CHECK(v3.ranges_len == BSNAP_COW_RANGES_BYTES / 2);
    CHECK(v3.index_off == 12288 + BSNAP_COW_RANGES_BYTES);
    CHECK(v3.index_len == 4096);
    CHECK(v3.data_off == v3.index_off + 4096);
    CHECK(bsnap_cow_ranges_max(&v3) == 8192);
    CHECK(bsnap_cow_slot_off(&v3, 1) == v3.data_off);
    CHECK(bsnap_cow_slot_off(&v3, 3) == v3.data_off + 2 * 4096);
    CHECK(bsnap_cow_ranges_other(&v3, v3.ranges_base) == v3.ranges_base + v3.ranges_len);
    CHECK(bsnap_cow_ranges_other(&v3, v3.ranges_base + v3.ranges_len) == v3.ranges_base);

    // Version 2: no usable-space table; the index follows the valid bitmap.
    bsnap_cow_layout v2 = layout_of(2);
    CHECK(v2.ranges_len == 0);
    CHECK(v2.index_off == 12288);
    CHECK(v2.data_off == 16384);

    // 1 TiB: 2^28 blocks, a 32 MiB bitmap, 2^19 index pages (64 KiB of
    // valid bitmap), a 2 GiB index.
    bsnap_cow_layout tib = layout_of(3, (1ULL << 40) / 512);
    CHECK(tib.nr_blocks == 1ULL << 28);
    CHECK(tib.bitmap_len == 32 * MiB);
    CHECK(tib.valid_len == 64 * KiB);
    CHECK(tib.index_len == 2 * GiB);
    CHECK(tib.data_off == 4096 + 32 * MiB + 64 * KiB + BSNAP_COW_RANGES_BYTES + 2 * GiB);

    // A partial block counts; a 512-byte device has one block.
    CHECK(layout_of(3, 1).nr_blocks == 1);
    CHECK(layout_of(3, 8).nr_blocks == 1);
    CHECK(layout_of(3, 9).nr_blocks == 2);
    // 512 index entries a page: the valid bitmap grows a bit per 512 blocks.
    CHECK(layout_of(3, 8 * 4096 * 8 * 512).valid_len == 4096);
    CHECK(layout_of(3, 8 * (4096 * 8 * 512 + 1)).valid_len == 8192);

    // The largest device: nothing wraps.
    bsnap_cow_layout max = layout_of(3, BSNAP_COW_MAX_DEVICE_SECTORS);
    CHECK(max.nr_blocks == 1ULL << 52);
    CHECK(max.bitmap_off < max.valid_off);
    CHECK(max.valid_off < max.ranges_base);
    CHECK(max.ranges_base < max.index_off);
    CHECK(max.index_off < max.data_off);
    CHECK(max.data_off < 1ULL << 60);

    bsnap_cow_layout l;
    CHECK(bsnap_cow_layout_init(&l, 3, 0) == -EINVAL);
    CHECK(bsnap_cow_layout_init(&l, 3, BSNAP_COW_MAX_DEVICE_SECTORS + 1) == -EINVAL);
    CHECK(bsnap_cow_layout_init(&l, 1, device_sectors) == -EINVAL);
    CHECK(bsnap_cow_layout_init(&l, 5, device_sectors) == -EINVAL);
}

TEST_CASE("version 4 puts the write-intent bitmap between the tables and the index",
          "[codec]") {
    // 131 blocks: one 4 MiB region, one block of intent bitmap.
    bsnap_cow_layout v3 = layout_of(3), v4 = layout_of(4);
    CHECK(v3.intent_len == 0);
    CHECK(v3.intent_shift == 0);
    CHECK(v4.ranges_base == v3.ranges_base);
    CHECK(v4.intent_off == v3.index_off);
    CHECK(v4.intent_shift == 22);
    CHECK(v4.nr_regions == 1);
    CHECK(v4.intent_len == 4096);
    CHECK(v4.index_off == v4.intent_off + 4096);
    CHECK(v4.data_off == v3.data_off + 4096);

    // 1 TiB: 2^18 regions of 4 MiB, 32 KiB of bits.
    bsnap_cow_layout tib = layout_of(4, (1ULL << 40) / 512);
    CHECK(tib.intent_shift == 22);
    CHECK(tib.nr_regions == 1ULL << 18);
    CHECK(tib.intent_len == 32 * KiB);
    // 8 TiB is the most 4 MiB regions cover (2^21); one more block doubles them.
    CHECK(layout_of(4, (8ULL << 40) / 512).intent_shift == 22);
    bsnap_cow_layout over = layout_of(4, (8ULL << 40) / 512 + 8);
    CHECK(over.intent_shift == 23);
    CHECK(over.nr_regions == (1ULL << 20) + 1);
    // 100 TiB: 64 MiB regions, at most 256 KiB of bits whatever the size.
    bsnap_cow_layout big = layout_of(4, (100ULL << 40) / 512);
    CHECK(big.intent_shift == 26);
    CHECK(big.nr_regions == 1600 * 1024);
    CHECK(big.intent_len == 200 * KiB);
    bsnap_cow_layout max = layout_of(4, BSNAP_COW_MAX_DEVICE_SECTORS);
    CHECK(max.nr_regions <= BSNAP_COW_INTENT_REGIONS_MAX);
    CHECK(max.intent_len <= 256 * KiB);
    CHECK(max.intent_off < max.index_off);
    CHECK(max.data_off < 1ULL << 60);

    // Regions to blocks and back; the last region ends with the device.
    std::uint64_t first = 0, end = 0;
    bsnap_cow_region_blocks(&v4, 0, &first, &end);
    CHECK(first == 0);
    CHECK(end == 131);
    bsnap_cow_region_blocks(&over, 1, &first, &end);
    CHECK(first == 2048);
    CHECK(end == 4096);
    bsnap_cow_region_blocks(&over, over.nr_regions - 1, &first, &end);
    CHECK(end == over.nr_blocks);
    CHECK(end - first == 1);
    CHECK(bsnap_cow_block_region(&over, 2047) == 0);
    CHECK(bsnap_cow_block_region(&over, 2048) == 1);
    CHECK(bsnap_cow_block_region(&over, over.nr_blocks - 1) == over.nr_regions - 1);
}

TEST_CASE("only a version 4 file that is neither clean nor broken is recoverable", "[codec]") {
    bsnap_cow_info h = sample(4);
    h.flags = 0;
    CHECK(bsnap_cow_intent_recoverable(&h));
    h.flags = BSNAP_COW_INDEX_ONLY | BSNAP_COW_SUPERSEDED;
    CHECK(bsnap_cow_intent_recoverable(&h));
    h.flags = BSNAP_COW_CLEAN;
    CHECK_FALSE(bsnap_cow_intent_recoverable(&h));
    h.flags = BSNAP_COW_BROKEN;
    CHECK_FALSE(bsnap_cow_intent_recoverable(&h));
    for (std::uint32_t version : {2u, 3u}) {
        bsnap_cow_info old = sample(version);
        old.flags = 0;
        CHECK_FALSE(bsnap_cow_intent_recoverable(&old));
    }
}

TEST_CASE("the codec's CRC is zlib's, and the kernel's formula gives the same", "[codec]") {
    std::vector<unsigned char> bytes(10000);
    for (std::size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<unsigned char>(i * 7 + 3);
    std::uint32_t zlib = static_cast<std::uint32_t>(::crc32(0L, bytes.data(), bytes.size()));
    CHECK(bsnap_cow_crc(bytes.data(), bytes.size()) == zlib);
    CHECK(bsnap_cow_crc32(bsnap_cow_crc32(0, bytes.data(), 4000), bytes.data() + 4000, 6000) ==
          zlib);
    // cow_port.h in the kernel: crc32_le(crc ^ ~0, ...) ^ ~0.
    CHECK((kernel_crc32_le(~0u, bytes.data(), bytes.size()) ^ ~0u) == zlib);
    std::uint32_t first = bsnap_cow_crc32(0, bytes.data(), 4000);
    CHECK((kernel_crc32_le(first ^ ~0u, bytes.data() + 4000, 6000) ^ ~0u) == zlib);
    CHECK(bsnap_cow_crc(bytes.data(), 0) == 0);
}

TEST_CASE("the codec encodes a version 3 header byte for byte as bsnap_cow.h says", "[codec]") {
    bsnap_cow_info h = sample(3);
    block b = encode(h);
    check_fields(b, h);
    auto field = [&b](std::size_t offset, std::size_t size) { return le_at(b, offset, size); };
    CHECK(field(offsetof(bsnap_cow_header, grown_off), 8) == h.grown_off);
    CHECK(field(offsetof(bsnap_cow_header, data_blocks), 8) == h.data_blocks);
    CHECK(field(offsetof(bsnap_cow_header, ranges_off), 8) == h.ranges_off);
    CHECK(field(offsetof(bsnap_cow_header, ranges_len), 8) == BSNAP_COW_RANGES_BYTES / 2);
    CHECK(field(offsetof(bsnap_cow_header, nr_ranges), 4) == 2);
    CHECK(field(offsetof(bsnap_cow_header, ranges_crc), 4) == h.ranges_crc);
    CHECK(field(offsetof(bsnap_cow_header, reserved), 4) == 0);
    CHECK(BSNAP_COW_HEADER_V3_BYTES == 200);
    CHECK(field(offsetof(bsnap_cow_header, crc), 4) == zlib_header_crc(b, 200));
    CHECK(std::all_of(b.begin() + 200, b.end(), [](unsigned char c) { return c == 0; }));
}

TEST_CASE("the codec encodes a version 4 header: 224 bytes with the intent fields", "[codec]") {
    bsnap_cow_info h = sample(4);
    block b = encode(h);
    check_fields(b, h);
    auto field = [&b](std::size_t offset, std::size_t size) { return le_at(b, offset, size); };
    const bsnap_cow_layout l = layout_of(4);
    CHECK(offsetof(bsnap_cow_header, intent_off) == 200);
    CHECK(field(offsetof(bsnap_cow_header, intent_off), 8) == l.intent_off);
    CHECK(field(offsetof(bsnap_cow_header, intent_len), 8) == 4096);
    CHECK(field(offsetof(bsnap_cow_header, intent_shift), 4) == 22);
    CHECK(field(offsetof(bsnap_cow_header, intent_reserved), 4) == 0);
    CHECK(sizeof(bsnap_cow_header) == 224);
    CHECK(field(offsetof(bsnap_cow_header, crc), 4) == zlib_header_crc(b, 224));
    CHECK(std::all_of(b.begin() + 224, b.end(), [](unsigned char c) { return c == 0; }));
    verdict v = read(b);
    REQUIRE(v.ret == 0);
    CHECK(v.info.intent_off == l.intent_off);
    CHECK(v.info.intent_len == l.intent_len);
    CHECK(v.info.intent_shift == l.intent_shift);
    CHECK(v.layout.nr_regions == 1);

    // A version 3 header neither writes nor reads the intent fields.
    bsnap_cow_info h3 = sample(3);
    h3.intent_off = 4096;
    h3.intent_shift = 30;
    block b3 = encode(h3);
    CHECK(field(offsetof(bsnap_cow_header, intent_off), 8) == l.intent_off); // b untouched
    CHECK(le_at(b3, offsetof(bsnap_cow_header, intent_off), 8) == 0);
    verdict v3 = read(b3);
    REQUIRE(v3.ret == 0);
    CHECK(v3.info.intent_off == 0);
    CHECK(v3.info.intent_shift == 0);
}

TEST_CASE("the codec encodes a version 2 header: 160 bytes and their crc", "[codec]") {
    bsnap_cow_info h = sample(2);
    h.grown_off = 12345; // not part of a version 2 header
    h.ranges_crc = 999;
    block b = encode(h);
    check_fields(b, h);
    CHECK(le_at(b, offsetof(bsnap_cow_header, crc), 4) ==
          zlib_header_crc(b, BSNAP_COW_HEADER_V2_BYTES));
    CHECK(std::all_of(b.begin() + BSNAP_COW_HEADER_V2_BYTES, b.end(),
                      [](unsigned char c) { return c == 0; }));
}

TEST_CASE("a header round-trips through the codec", "[codec]") {
    for (std::uint32_t version : {2u, 3u, 4u}) {
        INFO("version " << version);
        bsnap_cow_info h = sample(version);
        block b = encode(h);
        verdict v = read(b, h.file_size);
        REQUIRE(v.ret == 0);
        CHECK(v.why.kind == BSNAP_COW_FAULT_NONE);
        CHECK(encode(v.info) == b);
        CHECK(v.info.crc == le_at(b, offsetof(bsnap_cow_header, crc), 4));
        CHECK(v.info.seqid == 5);
        CHECK(std::memcmp(v.info.uuid, test_uuid.data(), 16) == 0);
        CHECK(v.info.flags == h.flags);
        CHECK(v.info.data_used == 40);
        CHECK(v.info.probe_crc == h.probe_crc);
        CHECK(v.info.bitmap_crc == h.bitmap_crc);
        CHECK(v.layout.data_off == h.data_off);
        CHECK(v.layout.index_off == h.index_off);
        if (version >= 3) {
            CHECK(v.info.grown_off == h.grown_off);
            CHECK(v.info.data_blocks == 37);
            CHECK(v.info.ranges_off == h.ranges_off);
            CHECK(v.info.nr_ranges == 2);
            CHECK(v.info.ranges_crc == h.ranges_crc);
        } else {
            // Derived: version 2 files never grew, every spent slot holds data.
            CHECK(v.info.grown_off == h.file_size);
            CHECK(v.info.data_blocks == 40);
            CHECK(v.info.ranges_off == 0);
            CHECK(v.info.nr_ranges == 0);
        }
    }

    // Bytes past a version 2 header are not part of it.
    block b = encode(sample(2));
    for (std::size_t i = BSNAP_COW_HEADER_V2_BYTES; i < sizeof(bsnap_cow_header); ++i)
        b[i] = 0xa5;
    verdict v = read(b);
    REQUIRE(v.ret == 0);
    CHECK(v.info.grown_off == v.info.file_size);
}

TEST_CASE("the codec refuses a short header and a bad magic", "[codec]") {
    block b = encode(sample());
    verdict v = read(b, UINT64_MAX, sizeof(bsnap_cow_header) - 1);
    CHECK(v.ret == -EBADMSG);
    CHECK(v.why.kind == BSNAP_COW_FAULT_SHORT);
    CHECK(text_of(v.why) == "truncated: header ends at 4096, file is 223 bytes");
    CHECK(read(b, UINT64_MAX, 0).why.kind == BSNAP_COW_FAULT_SHORT);

    for (std::size_t i = 0; i < 8; ++i) {
        block bad = b;
        bad[i] ^= 0x10;
        v = read(bad);
        CHECK(v.ret == -EBADMSG);
        CHECK(v.why.kind == BSNAP_COW_FAULT_MAGIC);
    }
    v = read(block(4096, 0));
    CHECK(v.why.kind == BSNAP_COW_FAULT_MAGIC);
    CHECK(text_of(v.why) == "bad magic 0x0 (not a bsnap CoW file)");
}

TEST_CASE("the codec tells a later format from an earlier one and from damage", "[codec]") {
    const std::size_t version_at = offsetof(bsnap_cow_header, version);
    auto with_version = [&](std::uint32_t version) {
        // A header written by a build whose format is @version, crc over the
        // whole struct (what a later version at least covers).
        block b = encode(sample(4));
        put_le(b, version_at, 4, version);
        return resealed(b, sizeof(bsnap_cow_header));
    };

    verdict v = read(with_version(5));
    CHECK(v.ret == -EBADMSG);
    CHECK(v.why.kind == BSNAP_COW_FAULT_VERSION_NEW);
    CHECK(text_of(v.why) == "format version 5 is newer than this build reads (4)");
    CHECK(read(with_version(BSNAP_COW_VERSION_PLAUSIBLE)).why.kind == BSNAP_COW_FAULT_VERSION_NEW);

    v = read(with_version(1));
    CHECK(v.why.kind == BSNAP_COW_FAULT_VERSION_OLD);
    CHECK(text_of(v.why) == "unsupported format version 1 (this build reads 2 to 4)");
    CHECK(read(with_version(0)).why.kind == BSNAP_COW_FAULT_VERSION_OLD);

    // No format will ever number this high: damage, even with a crc to match.
    v = read(with_version(BSNAP_COW_VERSION_PLAUSIBLE + 1));
    CHECK(v.why.kind == BSNAP_COW_FAULT_VERSION_BAD);
    CHECK_THAT(text_of(v.why), Contains("damaged header: version field 256"));
    CHECK(read(with_version(0x80000003)).why.kind == BSNAP_COW_FAULT_VERSION_BAD);
}

TEST_CASE("a flipped bit of the version field is damage, never a later format", "[codec]") {
    const std::size_t version_at = offsetof(bsnap_cow_header, version);
    for (std::uint32_t version : {2u, 3u, 4u}) {
        block good = encode(sample(version));
        for (int bit = 0; bit < 32; ++bit) {
            block b = good;
            std::uint32_t flipped = version ^ (1u << bit);
            put_le(b, version_at, 4, flipped);
            INFO("version " << version << " read as " << flipped);
            verdict v = read(b);
            CHECK(v.ret == -EBADMSG);
            if (flipped >= 2 && flipped <= 4) {
                // A version this build reads: its crc covers other bytes.
                CHECK(v.why.kind == BSNAP_COW_FAULT_CRC);
            } else {
                CHECK(v.why.kind == BSNAP_COW_FAULT_VERSION_BAD);
                CHECK(v.why.limit == version);
                CHECK_THAT(text_of(v.why),
                           Contains("damaged header: version field " + std::to_string(flipped) +
                                    ", but its checksum is the one of version " +
                                    std::to_string(version)));
            }
        }
    }
}

TEST_CASE("the codec refuses a header whose crc does not match the bytes it covers", "[codec]") {
    for (std::uint32_t version : {2u, 3u, 4u}) {
        block good = encode(sample(version));
        std::size_t covered = bsnap_cow_header_bytes(version);
        CHECK(covered == (version == 2 ? 160u : version == 3 ? 200u : 224u));
        // Any byte after magic and version, the crc field included.
        for (std::size_t i = offsetof(bsnap_cow_header, flags); i < covered; ++i) {
            block b = good;
            b[i] ^= 0x01;
            INFO("version " << version << ", byte " << i);
            verdict v = read(b);
            CHECK(v.ret == -EBADMSG);
            CHECK(v.why.kind == BSNAP_COW_FAULT_CRC);
        }
    }
    block b = encode(sample(3));
    b[offsetof(bsnap_cow_header, seqid)] ^= 0xff;
    CHECK_THAT(text_of(read(b).why), Contains("checksum mismatch (header says 0x"));
    // Past the struct, the header block is not covered (and not read).
    b = encode(sample(3));
    b[300] = 0xff;
    CHECK(read(b).ret == 0);
}

TEST_CASE("the codec refuses every field that breaks the layout or a bound", "[codec]") {
    struct refusal {
        const char* field;
        std::function<void(bsnap_cow_info&)> change;
        std::uint32_t version = BSNAP_COW_VERSION;
        bsnap_cow_fault_kind kind = BSNAP_COW_FAULT_FIELD;
    };
    const bsnap_cow_layout l = layout_of(BSNAP_COW_VERSION);
    const std::uint64_t slots = 64; // sample()'s file: data_off + 64 blocks
    const std::vector<refusal> refusals = {
        {"header_size", [](bsnap_cow_info& h) { h.header_size = 512; }},
        {"block_size", [](bsnap_cow_info& h) { h.block_size = 8192; }},
        {"block_size", [](bsnap_cow_info& h) { h.block_size = 0; }},
        {"flags", [](bsnap_cow_info& h) { h.flags |= 0x10; }, 4, BSNAP_COW_FAULT_FLAGS},
        {"flags", [](bsnap_cow_info& h) { h.flags |= 0x80000000; }, 3, BSNAP_COW_FAULT_FLAGS},
        {"seqid", [](bsnap_cow_info& h) { h.seqid = 0; }},
        {"device_sectors", [](bsnap_cow_info& h) { h.device_sectors = 0; }},
        {"device_sectors",
         [](bsnap_cow_info& h) { h.device_sectors = BSNAP_COW_MAX_DEVICE_SECTORS + 1; }},
        {"nr_blocks", [](bsnap_cow_info& h) { h.nr_blocks = 132; }},
        {"nr_blocks", [](bsnap_cow_info& h) { h.nr_blocks = 130; }},
        // A header for another device size: its own layout, not this one's.
        {"nr_blocks", [](bsnap_cow_info& h) { h.device_sectors = 8 * 1000; }},
        {"bitmap_off", [](bsnap_cow_info& h) { h.bitmap_off = 0; }},
        {"bitmap_off", [](bsnap_cow_info& h) { h.bitmap_off = UINT64_MAX - 10; }},
        {"bitmap_len", [](bsnap_cow_info& h) { h.bitmap_len = 16; }},
        {"bitmap_len", [](bsnap_cow_info& h) { h.bitmap_len = 2 * GiB; }},
        {"valid_off", [](bsnap_cow_info& h) { h.valid_off = 0; }},
        {"valid_len", [](bsnap_cow_info& h) { h.valid_len = 0; }},
        {"valid_len", [](bsnap_cow_info& h) { h.valid_len = UINT64_MAX; }},
        {"ranges_len", [](bsnap_cow_info& h) { h.ranges_len = 0; }},
        {"ranges_len", [](bsnap_cow_info& h) { h.ranges_len = BSNAP_COW_RANGES_BYTES; }},
        {"ranges_off", [](bsnap_cow_info& h) { h.ranges_off = 0; }},
        {"ranges_off", [&l](bsnap_cow_info& h) { h.ranges_off = l.ranges_base + 4096; }},
        {"ranges_off", [&l](bsnap_cow_info& h) { h.ranges_off = l.index_off; }},
        {"nr_ranges", [&l](bsnap_cow_info& h) { h.nr_ranges = bsnap_cow_ranges_max(&l) + 1; }},
        {"nr_ranges", [](bsnap_cow_info& h) { h.nr_ranges = UINT32_MAX; }},
        {"index_off", [](bsnap_cow_info& h) { h.index_off = h.bitmap_off; }},
        {"index_len", [](bsnap_cow_info& h) { h.index_len = 8; }},
        {"data_off", [](bsnap_cow_info& h) { h.data_off = h.file_size - 4096; }},
        {"data_off", [](bsnap_cow_info& h) { h.data_off = 0; }},
        {"file_size", [](bsnap_cow_info& h) { h.file_size = h.data_off; }},
        {"file_size", [](bsnap_cow_info& h) { h.file_size = 0; }},
        {"changed_blocks", [](bsnap_cow_info& h) { h.changed_blocks = h.nr_blocks + 1; }},
        {"grown_off", [](bsnap_cow_info& h) { h.grown_off = h.data_off; }},
        {"grown_off", [](bsnap_cow_info& h) { h.grown_off = 0; }},
        {"grown_off", [](bsnap_cow_info& h) { h.grown_off = h.file_size + 1; }},
        {"data_used", [slots](bsnap_cow_info& h) { h.data_used = slots + 1; }},
        {"data_used", [](bsnap_cow_info& h) { h.data_used = UINT64_MAX; }},
        {"data_blocks", [](bsnap_cow_info& h) { h.data_blocks = h.data_used + 1; }},
        {"intent_off", [](bsnap_cow_info& h) { h.intent_off = 0; }},
        {"intent_off", [&l](bsnap_cow_info& h) { h.intent_off = l.index_off; }},
        {"intent_len", [](bsnap_cow_info& h) { h.intent_len = 0; }},
        {"intent_len", [](bsnap_cow_info& h) { h.intent_len = 2 * GiB; }},
        {"intent_shift", [](bsnap_cow_info& h) { h.intent_shift = 12; }},
        {"intent_shift", [](bsnap_cow_info& h) { h.intent_shift = 23; }},
        {"intent_shift", [](bsnap_cow_info& h) { h.intent_shift = UINT32_MAX; }},
        {"intent_reserved", [](bsnap_cow_info& h) { h.intent_reserved = 1; }},
        // Version 3: the index follows the tables.
        {"index_off", [&l](bsnap_cow_info& h) { h.index_off = l.index_off; }, 3},
        // Version 2: the same layout rules, without the table.
        {"valid_off", [](bsnap_cow_info& h) { h.valid_off = 0; }, 2},
        {"index_off", [&l](bsnap_cow_info& h) { h.index_off = l.index_off; }, 2},
        {"data_used", [slots](bsnap_cow_info& h) { h.data_used = slots + 1; }, 2},
    };
    for (const refusal& r : refusals) {
        bsnap_cow_info h = sample(r.version);
        r.change(h);
        bsnap_cow_fault why;
        bsnap_cow_layout out{};
        out.data_off = 77;
        INFO("version " << r.version << ", field " << r.field);
        CHECK(bsnap_cow_info_check(&h, UINT64_MAX, &out, &why) == -EBADMSG);
        CHECK(why.kind == r.kind);
        CHECK(std::string(why.field) == r.field);
        CHECK(out.data_off == 77); // untouched on refusal
        if (r.kind == BSNAP_COW_FAULT_FIELD)
            CHECK_THAT(text_of(why), Contains(std::string("bad header: ") + r.field + " "));
        // And through the encoder and decoder: refused the same way.
        verdict v = read(encode(h));
        CHECK(v.ret == -EBADMSG);
        CHECK(v.why.kind == r.kind);
    }

    // The limits themselves are accepted.
    const std::vector<std::function<void(bsnap_cow_info&)>> accepted = {
        [&l](bsnap_cow_info& h) { h.ranges_off = l.ranges_base; },
        [&l](bsnap_cow_info& h) { h.ranges_off = l.ranges_base + l.ranges_len; },
        [&l](bsnap_cow_info& h) { h.nr_ranges = bsnap_cow_ranges_max(&l); },
        [](bsnap_cow_info& h) { h.changed_blocks = h.nr_blocks; },
        [](bsnap_cow_info& h) { h.grown_off = h.file_size; },
        [](bsnap_cow_info& h) { h.grown_off = h.data_off + 1; },
        [slots](bsnap_cow_info& h) { h.data_used = h.data_blocks = slots; },
        [](bsnap_cow_info& h) { h.data_used = h.data_blocks = 0; },
        [](bsnap_cow_info& h) {
            h.file_size = h.grown_off = h.data_off + 1;
            h.data_used = h.data_blocks = 0;
        },
        [](bsnap_cow_info& h) { h.flags = BSNAP_COW_KNOWN_FLAGS; },
        [](bsnap_cow_info& h) { h.flags = 0; },
    };
    for (std::size_t i = 0; i < accepted.size(); ++i) {
        bsnap_cow_info h = sample();
        accepted[i](h);
        bsnap_cow_fault why;
        INFO("accepted case " << i);
        CHECK(bsnap_cow_info_check(&h, h.file_size, nullptr, &why) == 0);
    }
}

TEST_CASE("the codec refuses a file shorter than its header says", "[codec]") {
    bsnap_cow_info h = sample();
    block b = encode(h);
    CHECK(read(b, h.file_size).ret == 0);
    CHECK(read(b, h.file_size + 1).ret == 0); // grown, header not yet rewritten
    verdict v = read(b, h.file_size - 1);
    CHECK(v.ret == -EBADMSG);
    CHECK(v.why.kind == BSNAP_COW_FAULT_TRUNCATED);
    CHECK(text_of(v.why) == "truncated: header says " + std::to_string(h.file_size) +
                                " bytes, file is " + std::to_string(h.file_size - 1) + " bytes");
    CHECK(read(b, 12 * KiB).why.kind == BSNAP_COW_FAULT_TRUNCATED);
    CHECK(read(b, 0).why.kind == BSNAP_COW_FAULT_TRUNCATED);
}

TEST_CASE("the codec checks the bitmap against bitmap_crc", "[codec]") {
    bsnap_cow_info h = sample();
    std::vector<unsigned char> bitmap(h.bitmap_len, 0);
    bitmap[0] = 0x0e;
    h.bitmap_crc = bsnap_cow_crc(bitmap.data(), bitmap.size());
    bsnap_cow_fault why;
    CHECK(bsnap_cow_bitmap_check(&h, bitmap.data(), &why) == 0);
    bitmap.back() = 1; // padding is covered too
    CHECK(bsnap_cow_bitmap_check(&h, bitmap.data(), &why) == -EBADMSG);
    CHECK(why.kind == BSNAP_COW_FAULT_BITMAP);
    CHECK_THAT(text_of(why), Contains("bitmap checksum mismatch (header says 0x"));
}

TEST_CASE("the codec encodes and checks the usable-space table", "[codec]") {
    bsnap_cow_info h = sample(); // grown at data_off + 32 blocks, 64 blocks long
    const std::uint64_t grown = h.grown_off, end = h.file_size;
    auto table = [](std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges) {
        std::vector<bsnap_cow_range_disk> t(ranges.size());
        for (std::size_t i = 0; i < ranges.size(); ++i)
            bsnap_cow_range_to_disk(t.data(), static_cast<std::uint32_t>(i), ranges[i].first,
                                    ranges[i].second);
        return t;
    };
    auto check = [&h](const std::vector<bsnap_cow_range_disk>& t, bsnap_cow_fault* why) {
        h.nr_ranges = static_cast<std::uint32_t>(t.size());
        h.ranges_crc = bsnap_cow_ranges_crc(t.data(), h.nr_ranges);
        return bsnap_cow_ranges_check(&h, t.data(), why);
    };
    bsnap_cow_fault why;

    std::vector<bsnap_cow_range_disk> good =
        table({{grown, 4096}, {grown + 8192, 8192}, {grown + 16384, end - grown - 16384}});
    // Little endian, 16 bytes an entry.
    const auto* bytes = reinterpret_cast<const unsigned char*>(good.data());
    CHECK(bytes[16 + 8] == 0x00);
    CHECK(bytes[16 + 9] == 0x20); // 8192
    CHECK(le64toh(good[1].off) == grown + 8192);
    CHECK(check(good, &why) == 0);
    CHECK(check({}, &why) == 0);
    CHECK(check(table({{grown, 4096}, {grown + 4096, 4096}}), &why) == 0); // adjacent

    CHECK(bsnap_cow_ranges_bytes(0) == 0);
    CHECK(bsnap_cow_ranges_bytes(1) == 4096);
    CHECK(bsnap_cow_ranges_bytes(256) == 4096);
    CHECK(bsnap_cow_ranges_bytes(257) == 8192);
    CHECK(bsnap_cow_ranges_bytes(8192) == BSNAP_COW_RANGES_BYTES / 2);

    // A stored crc that does not match.
    h.nr_ranges = 3;
    h.ranges_crc = bsnap_cow_ranges_crc(good.data(), 3) ^ 1;
    CHECK(bsnap_cow_ranges_check(&h, good.data(), &why) == -EBADMSG);
    CHECK(why.kind == BSNAP_COW_FAULT_RANGES_CRC);
    CHECK_THAT(text_of(why), Contains("usable-space table checksum mismatch"));

    const std::vector<std::vector<std::pair<std::uint64_t, std::uint64_t>>> bad = {
        {{grown - 4096, 8192}},                // before grown_off
        {{0, 4096}},                           // in the metadata
        {{grown, end - grown + 4096}},         // past file_size
        {{end, 4096}},                         // at file_size
        {{end - 4096, UINT64_MAX}},            // wraps
        {{UINT64_MAX - 100, 200}},             // wraps
        {{grown + 8192, 4096}, {grown, 4096}}, // unsorted
        {{grown, 8192}, {grown + 4096, 4096}}, // overlapping
        {{grown, 4096}, {grown, 4096}},        // twice
    };
    for (const auto& ranges : bad) {
        INFO("table starting at " << ranges.front().first << ", +" << ranges.front().second);
        CHECK(check(table(ranges), &why) == -EBADMSG);
        CHECK(why.kind == BSNAP_COW_FAULT_RANGES);
        CHECK_THAT(text_of(why), Contains("bad usable-space table: range "));
    }
}

TEST_CASE("every fault of the codec reads as a message of its own", "[codec]") {
    std::vector<std::string> texts;
    for (int kind = BSNAP_COW_FAULT_NONE; kind <= BSNAP_COW_FAULT_RANGES; ++kind) {
        bsnap_cow_fault why{static_cast<bsnap_cow_fault_kind>(kind), "field", "rule", 1, 2};
        texts.push_back(text_of(why));
    }
    CHECK(texts.front() == "no fault");
    for (std::size_t i = 1; i < texts.size(); ++i) {
        INFO(texts[i]);
        CHECK(texts[i] != "no fault");
        CHECK(std::count(texts.begin(), texts.end(), texts[i]) == 1);
    }
    // Cut to the buffer, terminated.
    bsnap_cow_fault why{BSNAP_COW_FAULT_FIELD, "bitmap_len", "expected", 2 * GiB, 4096};
    char small[10];
    CHECK(std::string(bsnap_cow_fault_text(&why, small, sizeof small)) == "bad heade");
}

TEST_CASE("the test writer's files are the module's: real valid_off and ranges_off", "[codec]") {
    temp_directory dir;
    cow_builder cow(device_sectors, {1, 2});
    bsnap_cow_layout l = layout_of(BSNAP_COW_VERSION);
    cow.f.grown_off = cow.f.file_size - 8 * 4096;
    cow.ranges = {{htole64(cow.f.grown_off), htole64(4096)}};
    cow.f.ranges_off = l.ranges_base + l.ranges_len;
    cow.seal();
    cow.write(dir / "cow");

    std::vector<char> bytes = read_all(dir / "cow");
    REQUIRE(bytes.size() == l.data_off + 16 * 4096);
    bsnap_cow_info h;
    bsnap_cow_layout got;
    bsnap_cow_fault why;
    REQUIRE(bsnap_cow_info_read(bytes.data(), bytes.size(), bytes.size(), &h, &got, &why) == 0);
    CHECK(h.valid_off == 8192);
    CHECK(h.valid_len == 4096);
    CHECK(h.ranges_off == l.ranges_base + l.ranges_len);
    CHECK(h.ranges_len == l.ranges_len);
    CHECK(h.nr_ranges == 1);
    CHECK(bsnap_cow_bitmap_check(&h, bytes.data() + h.bitmap_off, &why) == 0);
    CHECK(bsnap_cow_ranges_check(
              &h, reinterpret_cast<const bsnap_cow_range_disk*>(bytes.data() + h.ranges_off),
              &why) == 0);
    CHECK(cow_file_reader(dir / "cow").header().file_size == bytes.size());

    // Version 2 as the module wrote it: no table, the index after the valid bitmap.
    cow_builder v2(device_sectors, {1}, 2);
    v2.write(dir / "v2");
    bytes = read_all(dir / "v2");
    REQUIRE(bsnap_cow_info_read(bytes.data(), bytes.size(), bytes.size(), &h, &got, &why) == 0);
    CHECK(h.valid_off == 8192);
    CHECK(h.index_off == 12288);
    CHECK(cow_file_reader(dir / "v2").version() == 2);
}

// The case: a header whose bitmap_len claims 2 GiB, in a file of
// 12 KiB (sparse or not). update-img used to allocate the 2 GiB (or fail
// with ENOMEM); it must be refused as damaged with no large allocation.
TEST_CASE("a 2 GiB bitmap_len in a 12 KiB CoW file is refused without allocating it", "[codec]") {
    temp_directory dir;
    bsnap_cow_layout l = layout_of(3);
    bsnap_cow_info h = sample();
    h.flags = BSNAP_COW_CLEAN | BSNAP_COW_INDEX_ONLY;
    h.changed_blocks = 0;
    // Regions moved to make room, so that the old reader's ordering and
    // bound checks all passed: only the layout gives it away.
    h.bitmap_len = 2 * GiB;
    h.valid_off = h.bitmap_off + h.bitmap_len;
    h.ranges_off = h.valid_off + l.valid_len;
    h.index_off = h.ranges_off + 2 * l.ranges_len;
    h.data_off = h.index_off + l.index_len;
    h.file_size = h.grown_off = h.data_off + 16 * 4096;
    h.data_used = h.data_blocks = 0;
    block b = encode(h);

    verdict v = read(b, 12 * KiB);
    CHECK(v.ret == -EBADMSG);
    CHECK(v.why.kind == BSNAP_COW_FAULT_FIELD);
    CHECK(text_of(v.why) == "bad header: bitmap_len 2147483648, expected 4096");

    auto refused_cheaply = [](const std::string& path, cow_problem problem,
                              const std::string& expected) {
        allocation_probe probe;
        try {
            cow_file_reader reader(path);
            FAIL("accepted " << path);
        } catch (const cow_format_error& e) {
            CHECK(e.code().value() == EBADMSG);
            CHECK(e.problem() == problem);
            CHECK_THAT(e.what(), Contains(expected));
        }
        CHECK(probe.largest() < 1 * MiB);
    };
    std::vector<char> first(12 * KiB, 0);
    std::memcpy(first.data(), b.data(), b.size());

    // 12 KiB long.
    write_all(dir / "short", first);
    refused_cheaply(dir / "short", cow_problem::bad_header,
                    "bad header: bitmap_len 2147483648, expected 4096");

    // 12 KiB written, as long as the header says: sparse.
    write_all(dir / "sparse", first);
    std::filesystem::resize_file(dir / "sparse", h.file_size);
    refused_cheaply(dir / "sparse", cow_problem::bad_header,
                    "bad header: bitmap_len 2147483648, expected 4096");

    // A header consistent with itself, for a 64 TiB device (a real 2 GiB
    // bitmap), in 12 KiB: refused by the file's size before any of it.
    bsnap_cow_layout big = layout_of(3, 64 * 1024 * GiB / 512);
    REQUIRE(big.bitmap_len == 2 * GiB);
    bsnap_cow_info hb;
    bsnap_cow_info_init(&hb, &big, big.data_off + 4096);
    hb.flags = BSNAP_COW_CLEAN;
    hb.seqid = 1;
    block bb = encode(hb);
    std::memcpy(first.data(), bb.data(), bb.size());
    write_all(dir / "big", first);
    refused_cheaply(dir / "big", cow_problem::truncated,
                    "truncated: header says " + std::to_string(hb.file_size) +
                        " bytes, file is 12288 bytes");
}
