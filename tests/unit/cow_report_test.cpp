// bsnapctl cow-info and changed-blocks: parsing, and their output for CoW
// files written with the module's codec, read through libbsnap's C reader.
#include "command_line.hpp"
#include "cow_test_files.hpp"
#include "execute.hpp"
#include "exit_status.hpp"

#include <catch2/catch.hpp>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <sstream>

using namespace bsnap;
using namespace bsnap::ctl;
using namespace bsnap_test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::string output_of(const std::vector<std::string>& args) {
    std::ostringstream out;
    execute(parse_command_line(args), out);
    return out.str();
}

// 300 blocks; changed: 2, 10-12, 299.
std::string write_cow(const temp_directory& dir, std::uint32_t flags,
                      std::uint32_t version = BSNAP_COW_VERSION) {
    cow_builder cow(300 * 8, {2, 10, 11, 12, 299}, version);
    cow.f.seqid = 7;
    cow.f.flags = flags;
    cow.seal();
    cow.write(dir / "cow");
    return dir / "cow";
}

} // namespace

TEST_CASE("cow-info and changed-blocks command lines", "[cli][cow-report]") {
    CHECK(parse_command_line({"cow-info", "/x"}) == command(cow_info_command{"/x", false}));
    CHECK(parse_command_line({"cow-info", "--json", "/x"}) ==
          command(cow_info_command{"/x", true}));
    CHECK(parse_command_line({"changed-blocks", "/x", "--json"}) ==
          command(changed_blocks_command{"/x", true}));
    CHECK_THROWS_AS(parse_command_line({"changed-blocks"}), usage_error);
    CHECK_THROWS_AS(parse_command_line({"cow-info", "/x", "/y"}), usage_error);
}

TEST_CASE("changed-blocks lists the runs, as text and JSON", "[cli][cow-report]") {
    temp_directory dir;
    std::string file = write_cow(dir, BSNAP_COW_CLEAN | BSNAP_COW_SUPERSEDED);
    CHECK(output_of({"changed-blocks", file}) == "2 1\n10 3\n299 1\n");
    auto j = nlohmann::json::parse(output_of({"changed-blocks", "--json", file}));
    CHECK(j == nlohmann::json::parse(R"({"format_version": 1, "file": ")" + file +
                                     R"(", "uuid": "10325476-98ba-dcfe-0123-456789abcdef",
        "seqid": 7, "block_size": 4096, "nr_blocks": 300, "changed_blocks": 5,
        "runs": [[2, 1], [10, 3], [299, 1]]})"));
}

TEST_CASE("cow-info shows the header, also of a file in use", "[cli][cow-report]") {
    temp_directory dir;
    std::string file = write_cow(dir, 0);
    std::string text = output_of({"cow-info", file});
    CHECK_THAT(text, StartsWith("CoW file " + file + "\n"));
    CHECK_THAT(text, Contains("  chain uuid:      10325476-98ba-dcfe-0123-456789abcdef\n"));
    CHECK_THAT(text, Contains("  seqid:           7\n"));
    CHECK_THAT(text, Contains("  clean:           no (in use, or not closed properly)\n"));
    CHECK_THAT(text, Contains("  changed blocks:  5 of 300 (20 KiB)\n"));
    auto j = nlohmann::json::parse(output_of({"cow-info", "--json", file}));
    CHECK(j["clean"] == false);
    CHECK(j["superseded"] == false);
    CHECK(j["seqid"] == 7);
    CHECK(j["version"] == BSNAP_COW_VERSION);
    CHECK(j["device_sectors"] == 2400);
    CHECK(j["changed_blocks"] == 5);
}

TEST_CASE("changed-blocks refuses an unclean version 3 file with EBADMSG, one reason",
          "[cli][cow-report]") {
    temp_directory dir;
    std::string file = write_cow(dir, 0, 3);
    try {
        output_of({"changed-blocks", file});
        FAIL("changed-blocks read a file that is not clean");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == EBADMSG);
        auto [status, message] = describe_failure("changed-blocks", std::current_exception());
        CHECK(status == EBADMSG);
        CHECK_THAT(message,
                   StartsWith("bsnapctl: changed-blocks: CoW file " + file + ": not clean"));
        // The errno's text once, at the end.
        CHECK_THAT(message, Contains("may be incomplete): Bad message") &&
                                !Contains("Bad message: Bad message"));
    }
    try {
        output_of({"cow-info", dir / "missing"});
        FAIL("cow-info read a missing file");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == ENOENT);
        CHECK(std::string(e.what()) == "open " + (dir / "missing") + ": No such file or directory");
    }
}
