#include "cow_test_files.hpp"

#include <bsnap/cow_file_reader.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <random>

using namespace bsnap;
using namespace bsnap_test;
using Catch::Matchers::Contains;

namespace {

std::vector<block_run> runs_of(const block_runs& runs) {
    std::vector<block_run> out;
    for (const block_run& run : runs)
        out.push_back(run);
    return out;
}

// The problem a refused file is refused for; fails the test if it is read.
cow_problem refusal(const std::string& path, std::string* message = nullptr) {
    try {
        cow_file_reader reader(path);
    } catch (const cow_format_error& e) {
        CHECK(e.code().value() == EBADMSG);
        if (message)
            *message = e.what();
        return e.problem();
    }
    FAIL("the CoW file was accepted: " << path);
    return {};
}

// 130 full blocks and a last one of 1 KiB.
constexpr std::uint64_t device_sectors = 130 * 8 + 2;

// A file with one block changed, its header fields changed by @change and
// sealed again: refused as bad_header, the message holding @expected.
template <typename Change>
void refused_header(const std::string& path, Change change, const std::string& expected) {
    cow_builder cow(device_sectors, {1});
    change(cow.f);
    cow.seal();
    cow.write(path);
    std::string message;
    CHECK(refusal(path, &message) == cow_problem::bad_header);
    CHECK_THAT(message, Contains(expected));
}

} // namespace

TEST_CASE("a valid CoW file is read with its header and changed runs", "[cow]") {
    temp_directory dir;
    std::vector<std::uint64_t> changed = {0, 1, 2, 7, 8, 63, 64, 65, 100, 130};
    cow_builder cow(device_sectors, changed);
    cow.f.seqid = 7;
    cow.seal();
    cow.write(dir / "cow");

    cow_file_reader reader(dir / "cow");
    CHECK(reader.uuid() == test_uuid);
    CHECK(reader.seqid() == 7);
    CHECK(reader.flags() == (BSNAP_COW_CLEAN | BSNAP_COW_INDEX_ONLY));
    CHECK(reader.device_sectors() == device_sectors);
    CHECK(reader.device_bytes() == device_sectors * 512);
    CHECK(reader.nr_blocks() == 131);
    CHECK(reader.block_size() == 4096);
    CHECK(reader.changed_blocks() == changed.size());
    CHECK(reader.bitmap().size() == 17); // ceil(131 / 8), not the padded bitmap_len
    CHECK(reader.header().file_size == cow.f.file_size);
    CHECK(reader.changed(7));
    CHECK_FALSE(reader.changed(6));
    CHECK(reader.changed(130));
    CHECK_FALSE(reader.changed(131));

    std::vector<block_run> expected = {{0, 3}, {7, 2}, {63, 3}, {100, 1}, {130, 1}};
    CHECK(runs_of(reader.runs()) == expected);
}

TEST_CASE("a CoW file with no changed block has no runs", "[cow]") {
    temp_directory dir;
    cow_builder(device_sectors, {}).write(dir / "cow");
    cow_file_reader reader(dir / "cow");
    CHECK(reader.changed_blocks() == 0);
    CHECK(reader.runs().begin() == std::default_sentinel);
}

TEST_CASE("runs match a bit-by-bit scan of the bitmap", "[cow]") {
    std::mt19937_64 random(42);
    for (std::uint64_t nr_bits : {1u, 7u, 8u, 9u, 63u, 64u, 65u, 200u, 1000u, 4099u}) {
        for (int density : {0, 1, 50, 99, 100}) {
            std::vector<std::uint8_t> bitmap((nr_bits + 7) / 8, 0);
            std::vector<bool> bits(nr_bits);
            // Long stretches of ones and zeros, so words are skipped too.
            bool value = false;
            for (std::uint64_t b = 0; b < nr_bits; ++b) {
                if (random() % 100 < 10)
                    value = static_cast<int>(random() % 100) < density;
                bits[b] = density == 100 || (density != 0 && value);
                if (bits[b])
                    bitmap[b / 8] |= std::uint8_t(1u << (b % 8));
            }
            std::vector<block_run> expected;
            std::uint64_t set = 0;
            for (std::uint64_t b = 0; b < nr_bits; ++b) {
                if (!bits[b])
                    continue;
                ++set;
                if (!expected.empty() && expected.back().end() == b)
                    ++expected.back().count;
                else
                    expected.push_back({b, 1});
            }
            INFO("nr_bits " << nr_bits << ", density " << density);
            CHECK(runs_of(block_runs(bitmap, nr_bits)) == expected);
            CHECK(count_set_bits(bitmap, nr_bits) == set);
        }
    }
}

TEST_CASE("runs ignore bits past the end and stop at the last bit", "[cow]") {
    std::vector<std::uint8_t> bitmap = {0xff, 0xff};
    CHECK(runs_of(block_runs(bitmap, 12)) == std::vector<block_run>{{0, 12}});
    CHECK(count_set_bits(bitmap, 12) == 12);
    bitmap = {0x00, 0x80};
    CHECK(runs_of(block_runs(bitmap, 16)) == std::vector<block_run>{{15, 1}});
    CHECK(runs_of(block_runs(bitmap, 15)).empty());
}

TEST_CASE("a CoW file with a bad magic is refused", "[cow]") {
    temp_directory dir;
    cow_builder cow(device_sectors, {1});
    cow.f.magic = 0x1122334455667788;
    cow.seal();
    cow.write(dir / "cow");
    std::string message;
    CHECK(refusal(dir / "cow", &message) == cow_problem::bad_magic);
    CHECK(message == "CoW file " + dir / "cow" +
                         ": bad magic 0x1122334455667788 (not a bsnap CoW file): Bad message");

    write_all(dir / "text", std::vector<char>(10000, 'x'));
    CHECK(refusal(dir / "text") == cow_problem::bad_magic);
}

TEST_CASE("a CoW file of a newer or older format version is refused", "[cow]") {
    temp_directory dir;
    cow_builder cow(device_sectors, {1});
    cow.f.version = BSNAP_COW_VERSION + 1;
    cow.seal();
    cow.write(dir / "cow");
    std::string message;
    CHECK(refusal(dir / "cow", &message) == cow_problem::unsupported_version);
    CHECK_THAT(message,
               Contains("format version " + std::to_string(BSNAP_COW_VERSION + 1) +
                        " is newer than this build reads (" + std::to_string(BSNAP_COW_VERSION) +
                        "): upgrade bsnap's tools: Bad message"));

    cow.f.version = 0;
    cow.seal();
    cow.write(dir / "cow");
    CHECK(refusal(dir / "cow") == cow_problem::unsupported_version);

    cow.f.version = BSNAP_COW_VERSION_MIN - 1;
    cow.seal();
    cow.write(dir / "cow");
    CHECK(refusal(dir / "cow", &message) == cow_problem::unsupported_version);
    CHECK_THAT(message,
               Contains("unsupported format version " + std::to_string(BSNAP_COW_VERSION_MIN - 1) +
                        " (this build reads " + std::to_string(BSNAP_COW_VERSION_MIN) + " to " +
                        std::to_string(BSNAP_COW_VERSION) + ")"));
}

TEST_CASE("a version 2 CoW file is read: grown_off is its size, data_blocks data_used", "[cow]") {
    temp_directory dir;
    cow_builder cow(device_sectors, {5}, 2);
    cow.f.data_used = 4;
    cow.seal();
    // Bytes past a version 2 header are not part of it: neither its crc
    // nor grown_off and data_blocks come from them.
    cow.v2_tail = 0xdeadbeef;
    cow.write(dir / "cow");
    cow_file_reader reader(dir / "cow");
    CHECK(reader.version() == 2);
    CHECK(reader.grown_off() == cow.f.file_size);
    CHECK(reader.data_blocks() == 4);
    CHECK(reader.header().data_used == 4);
    CHECK(reader.changed(5));

    // Its crc covers 160 bytes: a change inside them is caught.
    cow.f.data_used = 5;
    cow.write(dir / "cow");
    CHECK(refusal(dir / "cow") == cow_problem::bad_checksum);
}

TEST_CASE("a version 3 CoW file is read with grown_off and data_blocks", "[cow]") {
    temp_directory dir;
    cow_builder cow(device_sectors, {5, 6}, 3);
    cow.f.file_size += 32 * 4096; // grown by 32 blocks after the snapshot
    cow.f.grown_off = cow.f.file_size - 32 * 4096;
    cow.f.data_used = 20; // slots [1, 20] spent, some of the grown ones skipped
    cow.f.data_blocks = 17;
    cow.seal();
    cow.write(dir / "cow");
    cow_file_reader reader(dir / "cow");
    CHECK(reader.version() == 3);
    CHECK(reader.grown_off() == cow.f.file_size - 32 * 4096);
    CHECK(reader.data_blocks() == 17);
    CHECK(reader.header().data_used == 20);
    CHECK(reader.changed_blocks() == 2);

    // A file never grown: grown_off is its size.
    cow_builder plain(device_sectors, {});
    plain.write(dir / "plain");
    CHECK(cow_file_reader(dir / "plain").grown_off() == plain.f.file_size);
}

TEST_CASE("a version 3 CoW file whose checksum misses its new fields is refused", "[cow]") {
    temp_directory dir;
    cow_builder cow(device_sectors, {1});
    cow.f.grown_off -= 4096; // after seal(): the crc covers the old value
    cow.write(dir / "cow");
    std::string message;
    CHECK(refusal(dir / "cow", &message) == cow_problem::bad_checksum);
    CHECK_THAT(message, Contains(": checksum mismatch (header says 0x"));

    cow_builder blocks(device_sectors, {1});
    blocks.f.data_blocks = 1;
    blocks.write(dir / "cow");
    CHECK(refusal(dir / "cow") == cow_problem::bad_checksum);
}

TEST_CASE("a version 3 CoW file with impossible growth fields is refused", "[cow]") {
    temp_directory dir;
    auto refused = [&dir](auto change, const std::string& expected) {
        refused_header(dir / "cow", change, expected);
    };
    using fields = cow_builder::fields;
    refused([](fields& f) { f.grown_off = f.file_size + 4096; }, "grown_off ");
    refused([](fields& f) { f.grown_off = f.data_off; }, ", above data_off");
    refused([](fields& f) { f.data_blocks = f.data_used + 1; },
            "bad header: data_blocks 4, at most data_used 3");
}

TEST_CASE("a CoW file whose header checksum does not match is refused", "[cow]") {
    temp_directory dir;
    cow_builder cow(device_sectors, {1});
    cow.f.seqid = 2; // after seal(): the crc is the one of seqid 1
    cow.write(dir / "cow");
    std::string message;
    CHECK(refusal(dir / "cow", &message) == cow_problem::bad_checksum);
    CHECK_THAT(message, Contains(": checksum mismatch (header says 0x"));
}

TEST_CASE("a truncated CoW file is refused", "[cow]") {
    temp_directory dir;
    cow_builder cow(device_sectors, {1, 2});

    cow.write(dir / "cow", 6000); // inside the bitmap
    std::string message;
    CHECK(refusal(dir / "cow", &message) == cow_problem::truncated);
    CHECK(message == "CoW file " + dir / "cow" + ": truncated: header says " +
                         std::to_string(cow.f.file_size) +
                         " bytes, file is 6000 bytes: Bad message");

    cow.write(dir / "cow", cow.f.file_size - 4096); // bitmap whole, data cut
    CHECK(refusal(dir / "cow", &message) == cow_problem::truncated);
    CHECK_THAT(message, Contains("truncated: header says " + std::to_string(cow.f.file_size) +
                                 " bytes, file is"));

    cow.write(dir / "cow", 100); // inside the header
    CHECK(refusal(dir / "cow", &message) == cow_problem::truncated);
    CHECK_THAT(message, Contains("truncated: header ends at 4096, file is 100 bytes"));

    cow.write(dir / "cow", 0);
    CHECK(refusal(dir / "cow") == cow_problem::truncated);
}

TEST_CASE("a version 2 or 3 CoW file not marked clean is refused", "[cow]") {
    // Without write intent nothing bounds what such a file may lack.
    for (std::uint32_t version : {2u, 3u}) {
        INFO("version " << version);
        temp_directory dir;
        cow_builder cow(device_sectors, {1}, version);
        cow.f.flags = BSNAP_COW_INDEX_ONLY;
        cow.seal();
        cow.write(dir / "cow");
        std::string message;
        CHECK(refusal(dir / "cow", &message) == cow_problem::not_clean);
        CHECK(message == "CoW file " + dir / "cow" +
                             ": not clean (not closed properly: its change bitmap may be "
                             "incomplete): Bad message");
    }
}

namespace {

// 2560 full blocks and a last one of 1 KiB: write-intent regions of 4 MiB
// (1024 blocks) 0 and 1 whole, region 2 of 512 blocks and the partial one.
constexpr std::uint64_t regions_sectors = 2560 * 8 + 2;
constexpr std::uint64_t region_blocks = 1024;

} // namespace

TEST_CASE("a crashed version 4 CoW file's changes are its bitmap and its write-intent regions",
          "[cow]") {
    temp_directory dir;
    cow_builder cow(regions_sectors, {5, 1500}); // sealed with these two
    cow.crash();
    // Pages written while in use: changed_blocks (2) and bitmap_crc are stale.
    cow.set(7);
    cow.set_region(2); // the last region, partial
    cow.write(dir / "cow");

    cow_file_reader reader(dir / "cow");
    CHECK(reader.recovered());
    CHECK(reader.version() == 4);
    CHECK(reader.intent_regions() == 1);
    CHECK(reader.region_bytes() == 4 * 1024 * 1024);
    CHECK(reader.header().changed_blocks == 2);
    CHECK(reader.changed_blocks() == 3 + 513);
    std::vector<block_run> expected = {{5, 1}, {7, 1}, {1500, 1}, {2 * region_blocks, 513}};
    CHECK(runs_of(reader.runs()) == expected);
    CHECK(reader.changed(2560));
    CHECK_FALSE(reader.changed(2561));
    CHECK_FALSE(reader.changed(2047));
    // No bit past the last block: the region is clipped to the device.
    REQUIRE(reader.bitmap().size() == 321);
    CHECK(reader.bitmap().back() == 0x01);

    // A whole region between two others not set: exactly its blocks.
    cow_builder middle(regions_sectors, {});
    middle.crash();
    middle.set_region(1);
    middle.write(dir / "middle");
    CHECK(runs_of(cow_file_reader(dir / "middle").runs()) ==
          std::vector<block_run>{{region_blocks, region_blocks}});

    // Whole regions, next to each other and to the bitmap's blocks.
    cow.set_region(0);
    cow.set_region(1);
    cow.write(dir / "cow");
    cow_file_reader all(dir / "cow");
    CHECK(all.intent_regions() == 3);
    CHECK(all.changed_blocks() == 2561);
    CHECK(runs_of(all.runs()) == std::vector<block_run>{{0, 2561}});
}

TEST_CASE("a crashed version 4 CoW file with no write intent has only its bitmap's changes",
          "[cow]") {
    temp_directory dir;
    cow_builder cow(regions_sectors, {});
    cow.crash();
    cow.set(2560);
    cow.write(dir / "cow");
    cow_file_reader reader(dir / "cow");
    CHECK(reader.recovered());
    CHECK(reader.intent_regions() == 0);
    CHECK(reader.changed_blocks() == 1);
    CHECK(runs_of(reader.runs()) == std::vector<block_run>{{2560, 1}});
}

TEST_CASE("a clean version 4 CoW file ignores its write-intent bitmap", "[cow]") {
    // Clean: the bitmap names every change, the intent bits are stale.
    temp_directory dir;
    cow_builder cow(regions_sectors, {5});
    cow.set_region(1);
    cow.write(dir / "cow");
    cow_file_reader reader(dir / "cow");
    CHECK_FALSE(reader.recovered());
    CHECK(reader.intent_regions() == 0);
    CHECK(reader.changed_blocks() == 1);
    CHECK(runs_of(reader.runs()) == std::vector<block_run>{{5, 1}});
}

TEST_CASE("a BROKEN CoW file is refused: a full backup is needed", "[cow]") {
    temp_directory dir;
    cow_builder cow(regions_sectors, {5});
    cow.crash(true);
    cow.set_region(0);
    cow.write(dir / "cow");
    std::string message;
    CHECK(refusal(dir / "cow", &message) == cow_problem::broken);
    CHECK(message == "CoW file " + dir / "cow" +
                         ": broken chain (a change may be missing): take a full backup: "
                         "Bad message");

    // BROKEN wins even over CLEAN (the module never writes both).
    cow.f.flags = BSNAP_COW_CLEAN | BSNAP_COW_BROKEN;
    cow.seal();
    cow.write(dir / "cow");
    CHECK(refusal(dir / "cow") == cow_problem::broken);
}

TEST_CASE("a crashed CoW file with bits past the device's end is refused", "[cow]") {
    temp_directory dir;
    // Region 3 of a device of 3 regions.
    cow_builder intent(regions_sectors, {});
    intent.crash();
    intent.set_region(3);
    intent.write(dir / "cow");
    std::string message;
    CHECK(refusal(dir / "cow", &message) == cow_problem::bad_bitmap);
    CHECK_THAT(message, Contains("write-intent bitmap has bits set past the last region (2)"));

    // Padding of the intent region, whole bytes past the last region's.
    cow_builder padding(regions_sectors, {});
    padding.crash();
    padding.intent.back() = 0x80;
    padding.write(dir / "cow");
    CHECK(refusal(dir / "cow") == cow_problem::bad_bitmap);

    // No crc covers a crashed file's bitmap: its padding is checked whole.
    cow_builder bitmap(regions_sectors, {});
    bitmap.crash();
    bitmap.bitmap.back() = 0x01;
    bitmap.write(dir / "cow");
    CHECK(refusal(dir / "cow", &message) == cow_problem::bad_bitmap);
    CHECK_THAT(message, Contains("bitmap has bits set past the last block (2560)"));
}

TEST_CASE("a CoW file whose bitmap disagrees with changed_blocks is refused", "[cow]") {
    temp_directory dir;
    cow_builder cow(device_sectors, {1, 2, 3});
    cow.set(50); // four bits set, the header says three
    cow.write(dir / "cow");
    std::string message;
    CHECK(refusal(dir / "cow", &message) == cow_problem::bad_bitmap);
    CHECK_THAT(message, Contains("bitmap has 4 changed blocks, header says 3"));

    cow_builder fewer(device_sectors, {1, 2, 3});
    fewer.bitmap[0] = 0; // no bit set, the header says three
    fewer.write(dir / "cow");
    CHECK(refusal(dir / "cow") == cow_problem::bad_bitmap);

    // A bit for block 131 of a 131-block device.
    cow_builder past(device_sectors, {1});
    past.bitmap[131 / 8] |= 1u << (131 % 8);
    past.f.changed_blocks = 2;
    past.seal();
    past.write(dir / "cow");
    CHECK(refusal(dir / "cow", &message) == cow_problem::bad_bitmap);
    CHECK_THAT(message, Contains("bitmap has bits set past the last block (130)"));
}

TEST_CASE("a CoW file whose bitmap does not match bitmap_crc is refused", "[cow]") {
    temp_directory dir;
    // A changed block moved: the count still matches, only the crc tells.
    cow_builder moved(device_sectors, {1, 2, 3});
    moved.bitmap[0] &= std::uint8_t(~(1u << 3));
    moved.set(50);
    moved.write(dir / "cow");
    std::string message;
    CHECK(refusal(dir / "cow", &message) == cow_problem::bad_bitmap);
    CHECK_THAT(message, Contains("bitmap checksum mismatch (header says 0x"));

    // Padding past the last block's byte is covered too.
    cow_builder padding(device_sectors, {1, 2, 3});
    padding.bitmap.back() = 0xff;
    padding.write(dir / "cow");
    CHECK(refusal(dir / "cow", &message) == cow_problem::bad_bitmap);
    CHECK_THAT(message, Contains("bitmap checksum mismatch"));

    // And sealed again, the same bitmap is accepted.
    padding.seal();
    padding.write(dir / "cow");
    CHECK_NOTHROW(cow_file_reader(dir / "cow"));
}

TEST_CASE("a CoW file whose regions are not the module's layout is refused", "[cow]") {
    temp_directory dir;
    auto refused = [&dir](auto change, const std::string& expected) {
        refused_header(dir / "cow", change, expected);
    };
    using fields = cow_builder::fields;
    cow_builder good(device_sectors, {});
    const std::uint64_t data_off = good.f.data_off;
    refused([](fields& f) { f.bitmap_off = f.file_size; }, "bad header: bitmap_off ");
    refused([](fields& f) { f.bitmap_off = 1024; }, "bad header: bitmap_off 1024, expected 4096");
    refused([](fields& f) { f.bitmap_off = UINT64_MAX - 10; }, "bitmap_off ");
    refused([](fields& f) { f.index_off = f.bitmap_off; }, "bad header: index_off 4096, expected");
    refused([](fields& f) { f.data_off = f.file_size - 4096; }, "bad header: data_off ");
    refused([](fields& f) { f.data_used = 1000; }, "bad header: data_used 1000, at most");
    refused([](fields& f) { f.bitmap_len = 16; }, "bad header: bitmap_len 16, expected 4096");
    refused([](fields& f) { f.index_len = 8; }, "bad header: index_len 8, expected 4096");
    refused([](fields& f) { f.valid_off = 0; }, "bad header: valid_off 0, expected 8192");
    refused([](fields& f) { f.valid_len = 0; }, "bad header: valid_len 0, expected 4096");
    refused([](fields& f) { f.ranges_off = 0; }, "bad header: ranges_off 0, expected 12288");
    refused([](fields& f) { f.ranges_len = 0; }, "bad header: ranges_len 0, expected 131072");
    refused([](fields& f) { f.nr_ranges = 8193; }, "bad header: nr_ranges 8193, at most 8192");
    refused([](fields& f) { f.nr_blocks = 132; }, "bad header: nr_blocks 132, expected 131");
    refused([](fields& f) { f.block_size = 3000; }, "bad header: block_size 3000, expected 4096");
    // The format has one block size: any other power of two is refused too.
    refused([](fields& f) { f.block_size = 8192; }, "bad header: block_size 8192, expected 4096");
    refused([](fields& f) { f.header_size = 512; }, "bad header: header_size 512, expected 4096");
    refused([](fields& f) { f.flags |= 0x80; }, "bad header: unknown flags 0x80");
    refused([](fields& f) { f.seqid = 0; }, "bad header: seqid 0");
    refused([](fields& f) { f.changed_blocks = 200; }, "bad header: changed_blocks 200, at most");
    refused([](fields& f) { f.device_sectors = 0; }, "bad header: device_sectors 0");
    refused([data_off](fields& f) { f.file_size = data_off; },
            "bad header: file_size " + std::to_string(data_off) + ", above data_off");
}

TEST_CASE("a CoW file that cannot be opened reports the errno", "[cow]") {
    temp_directory dir;
    try {
        cow_file_reader reader(dir / "missing");
        FAIL("opened a missing file");
    } catch (const cow_format_error&) {
        FAIL("a missing file is not a format error");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == ENOENT);
        CHECK_THAT(e.what(), Contains(dir / "missing"));
    }
    try {
        cow_file_reader reader(dir.path);
        FAIL("opened a directory");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() != 0);
        CHECK(e.code().value() != EBADMSG);
    }
}
