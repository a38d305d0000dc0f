// bsnapctl status: the table and the JSON array, from a parsed /proc/bsnap-info.
#include "command_line.hpp"
#include "status.hpp"

#include <bsnap/proc_info.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace bsnap;
using namespace bsnap::ctl;

namespace {

const char* const two_devices = R"({"version": "0.1.0", "abi_version": 1, "devices": [
  {"minor": 0, "state": 2, "bdev": "/dev/vdb1", "cow": "/mnt/.bsnap0", "error": 0,
   "falloc_size": 10485760, "cow_used_bytes": 0, "changed_blocks": 12, "block_size": 4096},
  {"minor": 13, "state": 13, "bdev": "/dev/vdc", "cow": "bsnap/c13", "error": -117,
   "falloc_size": 104857600, "cow_used_bytes": 4096, "changed_blocks": 0, "block_size": 4096}
]})";

} // namespace

TEST_CASE("status table: header, one padded line per device", "[status]") {
    proc_info info = parse_proc_info(two_devices, "test");
    std::string expected =
        "MINOR  DEVICE     STATE              MODE         COW FILE      COW USED/SIZE    "
        "CHANGED      ERROR\n"
        "0      /dev/vdb1  active             incremental  /mnt/.bsnap0  0 B / 10 MiB     "
        "12 (48 KiB)  -\n"
        "13     /dev/vdc   unverified failed  snapshot     bsnap/c13     4 KiB / 100 MiB  "
        "0            Structure needs cleaning (errno 117)\n";
    CHECK(status_table(info) == expected);
}

TEST_CASE("status table without devices", "[status]") {
    CHECK(status_table(parse_proc_info(R"({"version": "0.1.0", "devices": []})", "test")) ==
          "no traced devices\n");
}

TEST_CASE("status json: the document of info --json, one object per device", "[status]") {
    nlohmann::json j = status_json(parse_proc_info(two_devices, "test"));
    REQUIRE(j.is_object());
    CHECK(j["format_version"] == 1);
    REQUIRE(j["devices"].size() == 2);
    const nlohmann::json& first = j["devices"][0];
    CHECK(first["minor"] == 0);
    CHECK(first["bdev"] == "/dev/vdb1");
    CHECK(first["activity"] == "active");
    CHECK(first["mode"] == "incremental");
    CHECK(first["failed"] == false);
    CHECK(first["falloc_size"] == 10485760);
    CHECK(first["error"] == 0);
    CHECK(first["error_name"] == "");
    const nlohmann::json& second = j["devices"][1];
    CHECK(second["activity"] == "unverified");
    CHECK(second["mode"] == "snapshot");
    CHECK(second["failed"] == true);
    CHECK(second["error"] == 117);
    CHECK(second["error_name"] == "EUCLEAN");
    CHECK(second["error_text"] == "Structure needs cleaning");
    CHECK(status_json(parse_proc_info(R"({"version": "0.1.0", "devices": []})",
                                      "test"))["devices"] == nlohmann::json::array());
}

TEST_CASE("status command line", "[status]") {
    CHECK(parse_command_line({"status"}) == command(status_command{false}));
    CHECK(parse_command_line({"status", "--json"}) == command(status_command{true}));
    CHECK_THROWS_AS(parse_command_line({"status", "3"}), usage_error);
}
