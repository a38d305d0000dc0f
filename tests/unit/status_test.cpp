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

TEST_CASE("status json: one object per device", "[status]") {
    nlohmann::json j = status_json(parse_proc_info(two_devices, "test"));
    REQUIRE(j.is_array());
    REQUIRE(j.size() == 2);
    CHECK(j[0] == nlohmann::json::parse(R"({"minor": 0, "device": "/dev/vdb1",
        "state": "active", "mode": "incremental", "failed": false, "cow": "/mnt/.bsnap0",
        "cow_used_bytes": 0, "cow_size_bytes": 10485760, "changed_blocks": 12,
        "changed_bytes": 49152, "error": 0, "error_text": ""})"));
    CHECK(j[1]["state"] == "unverified");
    CHECK(j[1]["mode"] == "snapshot");
    CHECK(j[1]["failed"] == true);
    CHECK(j[1]["error"] == 117);
    CHECK(j[1]["error_text"] == "Structure needs cleaning");
    CHECK(status_json(parse_proc_info(R"({"version": "0.1.0", "devices": []})", "test")) ==
          nlohmann::json::array());
}

TEST_CASE("status command line", "[status]") {
    CHECK(parse_command_line({"status"}) == command(status_command{false}));
    CHECK(parse_command_line({"status", "--json"}) == command(status_command{true}));
    CHECK_THROWS_AS(parse_command_line({"status", "3"}), usage_error);
}
