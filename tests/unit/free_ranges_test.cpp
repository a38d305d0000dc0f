// find_free_file_ranges: the file extents of a grown CoW file and what
// GETFSMAP says about their device blocks, to the file ranges the module may
// use. A byte is usable only where a free record covers it and no in-use
// record does.
#include <bsnap/free_ranges.hpp>
#include <catch2/catch.hpp>
#include <random>

using namespace bsnap;

namespace {

constexpr std::uint64_t K = 4096; // one block
constexpr std::size_t no_cap = 1u << 20;

space_record free_rec(std::uint64_t physical, std::uint64_t length) {
    return {physical, length, true};
}

space_record used_rec(std::uint64_t physical, std::uint64_t length) {
    return {physical, length, false};
}

std::vector<file_range> ranges_of(const std::vector<file_extent>& extents,
                                  const std::vector<space_record>& records, file_range window,
                                  std::size_t cap = no_cap, std::uint64_t align = K) {
    return find_free_file_ranges(extents, records, window, cap, align).ranges;
}

} // namespace

TEST_CASE("free ranges: nothing in, nothing out", "[free_ranges]") {
    CHECK(ranges_of({}, {}, {0, 100 * K}).empty());
    CHECK(ranges_of({{0, 1000 * K, 10 * K}}, {}, {0, 10 * K}).empty());
    CHECK(ranges_of({}, {free_rec(0, 1 << 30)}, {0, 10 * K}).empty());
    CHECK(ranges_of({{0, 1000 * K, 10 * K}}, {free_rec(1000 * K, 10 * K)}, {0, 0}).empty());
    free_file_ranges none = find_free_file_ranges({}, {}, {0, K}, 10);
    CHECK(none.bytes() == 0);
    CHECK(none.dropped_ranges == 0);
}

TEST_CASE("free ranges: a wholly free extent maps back to file offsets", "[free_ranges]") {
    // File blocks [16, 32) at device blocks [256, 272), inside a free run.
    std::vector<file_extent> extents = {{16 * K, 256 * K, 16 * K}};
    CHECK(ranges_of(extents, {free_rec(200 * K, 100 * K)}, {16 * K, 16 * K}) ==
          std::vector<file_range>{{16 * K, 16 * K}});
}

TEST_CASE("free ranges: gaps between records are not free", "[free_ranges]") {
    // K is one block. Device blocks 256 and 268 free; nothing said about
    // blocks 257 to 267.
    std::vector<file_extent> extents = {{0, 256 * K, 16 * K}};
    std::vector<space_record> records = {free_rec(256 * K, K), free_rec(268 * K, K)};
    CHECK(ranges_of(extents, records, {0, 16 * K}) == std::vector<file_range>{{0, K}, {12 * K, K}});
    // An extent no record reaches at all: nothing (old ext4 answers so for a
    // fully allocated range).
    CHECK(ranges_of({{0, 900 * K, 4 * K}}, records, {0, 4 * K}).empty());
}

TEST_CASE("free ranges: in-use records win over free ones where they overlap", "[free_ranges]") {
    std::vector<file_extent> extents = {{0, 100 * K, 10 * K}};
    std::vector<space_record> records = {free_rec(100 * K, 10 * K), used_rec(102 * K, 2 * K),
                                         used_rec(107 * K, K), free_rec(103 * K, 2 * K)};
    CHECK(ranges_of(extents, records, {0, 10 * K}) ==
          std::vector<file_range>{{0, 2 * K}, {4 * K, 3 * K}, {8 * K, 2 * K}});
}

TEST_CASE("free ranges: records in any order, overlapping, duplicated", "[free_ranges]") {
    std::vector<file_extent> extents = {{0, 100 * K, 10 * K}};
    std::vector<space_record> sorted = {free_rec(100 * K, 4 * K), used_rec(104 * K, K),
                                        free_rec(105 * K, 5 * K)};
    std::vector<space_record> shuffled = {free_rec(106 * K, 4 * K), used_rec(104 * K, K),
                                          free_rec(105 * K, 2 * K), free_rec(100 * K, 3 * K),
                                          free_rec(101 * K, 3 * K), used_rec(104 * K, K)};
    std::vector<file_range> expected = {{0, 4 * K}, {5 * K, 5 * K}};
    CHECK(ranges_of(extents, sorted, {0, 10 * K}) == expected);
    CHECK(ranges_of(extents, shuffled, {0, 10 * K}) == expected);
}

TEST_CASE("free ranges: records straddling an extent's edges are clipped to it", "[free_ranges]") {
    // Two extents of the file, far apart on the device; records reach past
    // both ends of each.
    std::vector<file_extent> extents = {{0, 100 * K, 4 * K}, {4 * K, 500 * K, 4 * K}};
    std::vector<space_record> records = {free_rec(90 * K, 12 * K), used_rec(102 * K, 10 * K),
                                         free_rec(498 * K, 100 * K)};
    CHECK(ranges_of(extents, records, {0, 8 * K}) ==
          std::vector<file_range>{{0, 2 * K}, {4 * K, 4 * K}});
}

TEST_CASE("free ranges: only the window counts", "[free_ranges]") {
    // One extent covers file blocks [0, 8); the window is blocks [2, 6).
    std::vector<file_extent> extents = {{0, 100 * K, 8 * K}};
    std::vector<space_record> records = {free_rec(0, 1000 * K)};
    CHECK(ranges_of(extents, records, {2 * K, 4 * K}) == std::vector<file_range>{{2 * K, 4 * K}});
    // Extents wholly before or after the window are ignored.
    std::vector<file_extent> three = {
        {0, 10 * K, 2 * K}, {2 * K, 50 * K, 2 * K}, {4 * K, 90 * K, 2 * K}};
    CHECK(ranges_of(three, records, {2 * K, 2 * K}) == std::vector<file_range>{{2 * K, 2 * K}});
}

TEST_CASE("free ranges: file ranges that touch are merged, across extents", "[free_ranges]") {
    // Contiguous in the file, not on the device; both free.
    std::vector<file_extent> extents = {
        {4 * K, 700 * K, 4 * K}, {0, 100 * K, 4 * K}, {8 * K, 300 * K, 2 * K}};
    std::vector<space_record> records = {free_rec(100 * K, 4 * K), free_rec(700 * K, 4 * K),
                                         free_rec(300 * K, K)};
    CHECK(ranges_of(extents, records, {0, 10 * K}) == std::vector<file_range>{{0, 9 * K}});
}

TEST_CASE("free ranges: only whole aligned slots are kept", "[free_ranges]") {
    // 1 KiB filesystem blocks: extents and records not 4 KiB aligned.
    const std::uint64_t k1 = 1024;
    // File KiB [0, 10) at device KiB [1001, 1011): free device KiB
    // [1002, 1010) are file KiB [1, 9): the whole slot [4, 8) only.
    std::vector<file_extent> extents = {{0, 1001 * k1, 10 * k1}};
    CHECK(ranges_of(extents, {free_rec(1002 * k1, 8 * k1)}, {0, 10 * k1}) ==
          std::vector<file_range>{{4 * k1, 4 * k1}});
    // A slot split over two extents, each half free: kept, the merge comes
    // before the rounding.
    std::vector<file_extent> split = {{0, 10 * k1, 2 * k1}, {2 * k1, 60 * k1, 2 * k1}};
    CHECK(ranges_of(split, {free_rec(10 * k1, 2 * k1), free_rec(60 * k1, 2 * k1)}, {0, 4 * k1}) ==
          std::vector<file_range>{{0, 4 * k1}});
    // Less than one whole slot free: nothing.
    CHECK(ranges_of(extents, {free_rec(1003 * k1, 3 * k1)}, {0, 10 * k1}).empty());
    // An extent whose end is not aligned, the window's end is.
    CHECK(ranges_of({{0, 2000 * k1, 9 * k1}}, {free_rec(0, 1 << 30)}, {0, 12 * k1}) ==
          std::vector<file_range>{{0, 8 * k1}});
    // align 1: nothing is cut.
    CHECK(ranges_of(extents, {free_rec(1002 * k1, 8 * k1)}, {0, 10 * k1}, no_cap, 1) ==
          std::vector<file_range>{{1 * k1, 8 * k1}});
}

TEST_CASE("free ranges: the lowest max_ranges are kept, the rest counted", "[free_ranges]") {
    std::vector<file_extent> extents = {{0, 0, 100 * K}};
    std::vector<space_record> records;
    for (std::uint64_t b = 0; b < 100; b += 2)
        records.push_back(free_rec(b * K, K)); // 50 one-block ranges, one apart
    free_file_ranges capped = find_free_file_ranges(extents, records, {0, 100 * K}, 10);
    REQUIRE(capped.ranges.size() == 10);
    CHECK(capped.ranges.front() == file_range{0, K});
    CHECK(capped.ranges.back() == file_range{18 * K, K});
    CHECK(capped.dropped_ranges == 40);
    CHECK(capped.dropped_bytes == 40 * K);
    CHECK(capped.bytes() == 10 * K);
    free_file_ranges all = find_free_file_ranges(extents, records, {0, 100 * K}, 50);
    CHECK(all.ranges.size() == 50);
    CHECK(all.dropped_ranges == 0);
    CHECK(find_free_file_ranges(extents, records, {0, 100 * K}, 0).dropped_ranges == 50);
}

TEST_CASE("free ranges: zero lengths and ends past 2^64", "[free_ranges]") {
    const std::uint64_t max = ~std::uint64_t{0};
    std::vector<file_extent> extents = {{0, 100 * K, 0}, {0, 200 * K, 4 * K}};
    std::vector<space_record> records = {free_rec(200 * K, 0), free_rec(200 * K, max),
                                         used_rec(203 * K, 0)};
    CHECK(ranges_of(extents, records, {0, max}) == std::vector<file_range>{{0, 4 * K}});
    // A file extent at the top of the file offsets: its end is clamped to
    // 2^64 - 1, so of its two blocks only the first is whole.
    std::vector<file_extent> top = {{max - 2 * K + 1, 0, 16 * K}};
    CHECK(ranges_of(top, {free_rec(0, 100 * K)}, {max - 2 * K + 1, max}) ==
          std::vector<file_range>{{max - 2 * K + 1, K}});
}

TEST_CASE("free ranges: agree with a block-by-block model", "[free_ranges]") {
    // Random files of one-block extents over a 256-block device, random
    // records; the model marks each block free or in use one at a time.
    std::mt19937_64 random(7);
    for (int round = 0; round < 200; ++round) {
        const std::uint64_t nblocks = 256;
        std::vector<std::uint64_t> order(nblocks);
        for (std::uint64_t i = 0; i < nblocks; ++i)
            order[i] = i;
        std::shuffle(order.begin(), order.end(), random);
        std::uint64_t file_blocks = 1 + random() % 64;
        std::vector<file_extent> extents;
        for (std::uint64_t f = 0; f < file_blocks; ++f)
            extents.push_back({f * K, order[f] * K, K});
        std::vector<int> said_free(nblocks, 0), said_used(nblocks, 0);
        std::vector<space_record> records;
        for (int r = 0; r < 20; ++r) {
            std::uint64_t start = random() % nblocks;
            std::uint64_t len = 1 + random() % 16;
            bool is_free = random() % 3 != 0;
            records.push_back({start * K, len * K, is_free});
            for (std::uint64_t b = start; b < std::min(nblocks, start + len); ++b)
                (is_free ? said_free : said_used)[b] = 1;
        }
        std::uint64_t from = random() % file_blocks;
        file_range window{from * K, (file_blocks - from) * K};

        std::vector<file_range> expected;
        for (std::uint64_t f = from; f < file_blocks; ++f) {
            std::uint64_t b = order[f];
            if (!said_free[b] || said_used[b])
                continue;
            if (!expected.empty() && expected.back().end() == f * K)
                expected.back().len += K;
            else
                expected.push_back({f * K, K});
        }
        INFO("round " << round);
        CHECK(ranges_of(extents, records, window) == expected);
    }
}
