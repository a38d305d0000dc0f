#include "cow_chain.hpp"
#include "cow_test_files.hpp"

#include <bsnap/cow_file_reader.hpp>
#include <catch2/catch.hpp>
#include <cerrno>

using namespace bsnap;
using namespace bsnap::upd;
using namespace bsnap_test;
using Catch::Matchers::Contains;

namespace {

// 2560 full blocks and a last one of 1 KiB: write-intent regions of 1024
// blocks, the last (2048-2560) partial.
constexpr std::uint64_t device_sectors = 2560 * 8 + 2;

// A clean CoW file of the test chain with seqid and these changed blocks.
std::string clean_cow(const temp_directory& dir, std::uint64_t seqid,
                      const std::vector<std::uint64_t>& changed) {
    std::string path = dir / ("cow" + std::to_string(seqid));
    cow_builder cow(device_sectors, changed);
    cow.f.seqid = seqid;
    cow.seal();
    cow.write(path);
    return path;
}

std::vector<block_run> runs_of(const cow_chain& chain) {
    std::vector<block_run> out;
    for (const block_run& run : chain.runs())
        out.push_back(run);
    return out;
}

// The message cow_chain refuses paths with (EINVAL); fails if accepted.
std::string refusal(const std::vector<std::string>& paths) {
    try {
        cow_chain chain(paths);
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == EINVAL);
        return e.what();
    }
    FAIL("the CoW files were accepted");
    return {};
}

} // namespace

TEST_CASE("one CoW file's chain has that file's changes", "[cow-chain]") {
    temp_directory dir;
    std::string cow = clean_cow(dir, 3, {0, 5, 6, 2560});
    cow_chain chain({cow});
    REQUIRE(chain.links().size() == 1);
    CHECK(chain.newest().path == cow);
    CHECK(chain.newest().seqid == 3);
    CHECK_FALSE(chain.newest().recovered);
    CHECK(chain.uuid() == test_uuid);
    CHECK(chain.nr_blocks() == 2561);
    CHECK(chain.device_bytes() == device_sectors * 512);
    CHECK(chain.changed_blocks() == 4);
    CHECK(runs_of(chain) == std::vector<block_run>{{0, 1}, {5, 2}, {2560, 1}});
}

TEST_CASE("the changes of consecutive CoW files are the union of theirs", "[cow-chain]") {
    temp_directory dir;
    std::string four = clean_cow(dir, 4, {1, 2});
    std::string five = clean_cow(dir, 5, {2, 3, 1500, 2560});
    // Six was in use at a crash: block 10 written after its last seal, and
    // region 1 (blocks 1024-2047) marked by its write intent.
    std::string six = dir / "cow6";
    cow_builder crashed(device_sectors, {7});
    crashed.f.seqid = 6;
    crashed.seal();
    crashed.crash();
    crashed.set(10);
    crashed.set_region(1);
    crashed.write(six);

    cow_chain chain({four, five, six});
    REQUIRE(chain.links().size() == 3);
    CHECK(chain.links()[0].seqid == 4);
    CHECK(chain.links()[1].seqid == 5);
    CHECK(chain.newest().seqid == 6);
    CHECK_FALSE(chain.links()[0].recovered);
    CHECK(chain.newest().recovered);
    CHECK(chain.newest().intent_regions == 1);
    CHECK(chain.newest().region_bytes == 4 * 1024 * 1024);
    std::vector<block_run> expected = {{1, 3}, {7, 1}, {10, 1}, {1024, 1024}, {2560, 1}};
    CHECK(runs_of(chain) == expected);
    CHECK(chain.changed_blocks() == 3 + 1 + 1 + 1024 + 1);
    CHECK(chain.changed(1500));
    CHECK_FALSE(chain.changed(4));
    CHECK_FALSE(chain.changed(2561));
}

TEST_CASE("CoW files out of order are refused", "[cow-chain]") {
    temp_directory dir;
    std::string four = clean_cow(dir, 4, {1});
    std::string five = clean_cow(dir, 5, {2});
    std::string six = clean_cow(dir, 6, {3});
    std::string eight = clean_cow(dir, 8, {4});
    std::string nine = clean_cow(dir, 9, {5});

    CHECK(refusal({five, four}) == "wrong order: CoW file " + four + " (seqid 4) is listed after " +
                                       "CoW file " + five +
                                       " (seqid 5); list the CoW files oldest first: "
                                       "Invalid argument");
    CHECK_THAT(refusal({four, six, five}), Contains("wrong order: CoW file " + five +
                                                    " (seqid 5) is listed after CoW file " + six));
    CHECK(refusal({four, four}) == "wrong order: CoW file " + four + " and CoW file " + four +
                                       " are both seqid 4; give each CoW file once, oldest "
                                       "first: Invalid argument");
    CHECK(refusal({four, six}) == "gap in the chain: CoW file " + four + " is seqid 4, CoW file " +
                                      six +
                                      " seqid 6; the CoW file of seqid 5 is missing: "
                                      "Invalid argument");
    CHECK_THAT(refusal({four, five, nine}),
               Contains("gap in the chain: CoW file " + five + " is seqid 5, CoW file " + nine +
                        " seqid 9; the CoW files of seqids 6 to 8 are missing"));
    CHECK_THAT(refusal({six, eight}), Contains("the CoW file of seqid 7 is missing"));
    // In order, they are accepted.
    CHECK(cow_chain({four, five, six}).changed_blocks() == 3);
}

TEST_CASE("CoW files of another chain or device are refused", "[cow-chain]") {
    temp_directory dir;
    std::string four = clean_cow(dir, 4, {1});

    cow_builder other(device_sectors, {2});
    other.f.seqid = 5;
    other.f.uuid[15] ^= 1;
    other.seal();
    other.write(dir / "other");
    CHECK(refusal({four, dir / "other"}) ==
          "different chain: CoW file " + dir / "other" +
              " belongs to chain 10325476-98ba-dcfe-0123-456789abcdee, CoW file " + four +
              " to 10325476-98ba-dcfe-0123-456789abcdef: Invalid argument");

    cow_builder smaller(device_sectors - 8, {2});
    smaller.f.seqid = 5;
    smaller.seal();
    smaller.write(dir / "smaller");
    CHECK(refusal({four, dir / "smaller"}) ==
          "size mismatch: CoW file " + dir / "smaller" + " tracks " +
              std::to_string((device_sectors - 8) * 512) + " bytes, CoW file " + four + " tracks " +
              std::to_string(device_sectors * 512) + " bytes: Invalid argument");
}

TEST_CASE("a chain with a BROKEN or unclean file is refused as that file", "[cow-chain]") {
    temp_directory dir;
    std::string four = clean_cow(dir, 4, {1});
    std::string six = clean_cow(dir, 6, {3});
    cow_builder broken(device_sectors, {2});
    broken.f.seqid = 5;
    broken.crash(true);
    broken.write(dir / "five");
    try {
        cow_chain chain({four, dir / "five", six});
        FAIL("a chain with a BROKEN file was accepted");
    } catch (const cow_format_error& e) {
        CHECK(e.problem() == cow_problem::broken);
        CHECK_THAT(e.what(), Contains("CoW file " + dir / "five" + ": broken chain"));
    }

    cow_builder old(device_sectors, {2}, 3);
    old.f.seqid = 5;
    old.f.flags = 0;
    old.seal();
    old.write(dir / "five");
    try {
        cow_chain chain({four, dir / "five", six});
        FAIL("a chain with an unclean version 3 file was accepted");
    } catch (const cow_format_error& e) {
        CHECK(e.problem() == cow_problem::not_clean);
    }
}
