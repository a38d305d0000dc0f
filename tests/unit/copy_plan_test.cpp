#include "copy_plan.hpp"

#include <catch2/catch.hpp>
#include <ostream>
#include <random>
#include <set>

using namespace bsnap;
using namespace bsnap::upd;

// For Catch's messages.
namespace bsnap::upd {
std::ostream& operator<<(std::ostream& os, const byte_range& r) {
    return os << "[" << r.offset << ", +" << r.length << ")";
}
std::ostream& operator<<(std::ostream& os, const copy_extent& e) {
    os << "read " << e.read << " changed";
    for (const byte_range& r : e.changed)
        os << " " << r;
    return os << " (" << e.changed_blocks << " blocks)";
}
} // namespace bsnap::upd

namespace {

constexpr std::uint64_t block = 4096;

std::vector<std::uint8_t> bitmap_of(const std::vector<std::uint64_t>& changed,
                                    std::uint64_t nr_blocks) {
    std::vector<std::uint8_t> bits((nr_blocks + 7) / 8);
    for (std::uint64_t b : changed)
        bits[b / 8] |= static_cast<std::uint8_t>(1u << (b % 8));
    return bits;
}

// The plan for these changed blocks of a device of nr_blocks whole blocks
// (plus tail bytes of a last partial block, which then counts as a block).
std::vector<copy_extent> plan(const std::vector<std::uint64_t>& changed, std::uint64_t nr_blocks,
                              std::uint64_t max_io, std::uint64_t max_gap, std::uint64_t tail = 0) {
    std::uint64_t blocks = nr_blocks + (tail ? 1 : 0);
    std::vector<std::uint8_t> bits = bitmap_of(changed, blocks);
    return plan_copy(block_runs(bits, blocks), block, nr_blocks * block + tail, {max_io, max_gap});
}

// An extent reading blocks [first, end) holding these changed runs (in blocks).
copy_extent extent(std::uint64_t first, std::uint64_t end,
                   const std::vector<std::pair<std::uint64_t, std::uint64_t>>& runs) {
    copy_extent e;
    e.read = {first * block, (end - first) * block};
    for (auto [f, n] : runs) {
        e.changed.push_back({f * block, n * block});
        e.changed_blocks += n;
    }
    return e;
}

} // namespace

TEST_CASE("copy plan: nothing changed, nothing to read", "[update-img][copy-plan]") {
    CHECK(plan({}, 100, 4 * block, 4 * block).empty());
}

TEST_CASE("copy plan: runs closer than max_gap share one read", "[update-img][copy-plan]") {
    // Gaps of 2 and 3 blocks; max_gap 3 blocks joins both, 2 blocks only the first.
    std::vector<std::uint64_t> changed = {10, 11, 14, 18, 19};
    CHECK(plan(changed, 100, 64 * block, 3 * block) ==
          std::vector<copy_extent>{extent(10, 20, {{10, 2}, {14, 1}, {18, 2}})});
    CHECK(plan(changed, 100, 64 * block, 2 * block) ==
          std::vector<copy_extent>{extent(10, 15, {{10, 2}, {14, 1}}), extent(18, 20, {{18, 2}})});
    // A max_gap that is not a whole number of blocks rounds down.
    CHECK(plan(changed, 100, 64 * block, 3 * block - 1) ==
          plan(changed, 100, 64 * block, 2 * block));
}

TEST_CASE("copy plan: max_gap 0 reads every run on its own", "[update-img][copy-plan]") {
    CHECK(plan({1, 3, 4, 6}, 10, 64 * block, 0) ==
          std::vector<copy_extent>{extent(1, 2, {{1, 1}}), extent(3, 5, {{3, 2}}),
                                   extent(6, 7, {{6, 1}})});
}

TEST_CASE("copy plan: no read is longer than max_io", "[update-img][copy-plan]") {
    SECTION("a long run is split") {
        std::vector<std::uint64_t> changed;
        for (std::uint64_t b = 5; b < 15; ++b)
            changed.push_back(b);
        CHECK(plan(changed, 100, 4 * block, 8 * block) ==
              std::vector<copy_extent>{extent(5, 9, {{5, 4}}), extent(9, 13, {{9, 4}}),
                                       extent(13, 15, {{13, 2}})});
    }
    SECTION("a run joined to the previous one is split where the read is full") {
        // 0-1, gap 2, 4-9: the first read takes 0-1 and 4-5, the rest of the run follows.
        CHECK(plan({0, 1, 4, 5, 6, 7, 8, 9}, 100, 6 * block, 4 * block) ==
              std::vector<copy_extent>{extent(0, 6, {{0, 2}, {4, 2}}), extent(6, 10, {{6, 4}})});
    }
    SECTION("a run none of which fits starts the next read") {
        CHECK(plan({0, 1, 4}, 100, 4 * block, 4 * block) ==
              std::vector<copy_extent>{extent(0, 2, {{0, 2}}), extent(4, 5, {{4, 1}})});
    }
    SECTION("max_io below a block still reads one block") {
        CHECK(plan({0, 1}, 100, 512, 4 * block) ==
              std::vector<copy_extent>{extent(0, 1, {{0, 1}}), extent(1, 2, {{1, 1}})});
    }
}

TEST_CASE("copy plan: the device's last, partial block is clipped", "[update-img][copy-plan]") {
    // 130 whole blocks and 1 KiB: block 130 is 1024 bytes.
    std::vector<copy_extent> p = plan({127, 130}, 130, 64 * block, 4 * block, 1024);
    REQUIRE(p.size() == 1);
    CHECK(p[0].read == byte_range{127 * block, 3 * block + 1024});
    CHECK(p[0].changed == std::vector<byte_range>{{127 * block, block}, {130 * block, 1024}});
    CHECK(p[0].changed_blocks == 2);
    CHECK(p[0].changed_bytes() == block + 1024);

    p = plan({130}, 130, 64 * block, 0, 1024);
    CHECK(p ==
          std::vector<copy_extent>{copy_extent{{130 * block, 1024}, {{130 * block, 1024}}, 1}});
}

TEST_CASE("copy plan: random bitmaps are covered exactly", "[update-img][copy-plan]") {
    std::mt19937 random(7);
    for (int round = 0; round < 200; ++round) {
        std::uint64_t nr_blocks = 1 + random() % 3000;
        std::uint64_t tail = random() % 2 ? 512 * (1 + random() % 7) : 0;
        std::uint64_t blocks = nr_blocks + (tail ? 1 : 0);
        std::uint64_t max_io = block * (1 + random() % 40);
        std::uint64_t max_gap = block * (random() % 10);
        unsigned density = 1 + random() % 20;
        std::vector<std::uint64_t> changed;
        for (std::uint64_t b = 0; b < blocks; ++b)
            if (random() % density == 0)
                changed.push_back(b);
        INFO("round " << round << ": " << blocks << " blocks, max_io " << max_io << ", max_gap "
                      << max_gap);

        std::vector<copy_extent> p = plan(changed, nr_blocks, max_io, max_gap, tail);
        std::uint64_t device_bytes = nr_blocks * block + tail;
        std::set<std::uint64_t> written;
        std::uint64_t previous_end = 0;
        for (const copy_extent& e : p) {
            REQUIRE(e.read.offset % block == 0);
            REQUIRE(e.read.offset >= previous_end);
            REQUIRE(e.read.length > 0);
            REQUIRE(e.read.length <= std::max(max_io / block, std::uint64_t{1}) * block);
            REQUIRE(e.read.end() <= device_bytes);
            REQUIRE_FALSE(e.changed.empty());
            // The read starts and ends with changed blocks; gaps at most max_gap.
            CHECK(e.changed.front().offset == e.read.offset);
            CHECK(e.changed.back().end() == e.read.end());
            std::uint64_t blocks_in = 0;
            for (std::size_t i = 0; i < e.changed.size(); ++i) {
                const byte_range& r = e.changed[i];
                if (i > 0)
                    CHECK(r.offset - e.changed[i - 1].end() <= max_gap);
                for (std::uint64_t off = r.offset; off < r.end(); off += block) {
                    CHECK(written.insert(off / block).second);
                    ++blocks_in;
                }
            }
            CHECK(blocks_in == e.changed_blocks);
            previous_end = e.read.end();
        }
        CHECK(written == std::set<std::uint64_t>(changed.begin(), changed.end()));
    }
}
