// docs/bsnap-info.schema.json: the one schema of /proc/bsnap-info,
// `bsnapctl info --json`, `status --json` and `info MINOR --json`, and the
// small validator (tests/tools/json_schema.hpp) that checks them against it.
// The guest tests check the module's real /proc/bsnap-info with the same
// validator (bsnap-json-check).
#include "status.hpp"

#include <bsnap/device_info_json.hpp>
#include <bsnap/proc_info.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <json_schema.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <uapi/bsnap.h>

using namespace bsnap;
using bsnap::test::json_schema;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

const json_schema& schema() {
    static const json_schema loaded = bsnap::test::load_json_schema(BSNAP_INFO_SCHEMA);
    return loaded;
}

std::string problems_of(const json& value) {
    std::string text;
    for (const std::string& p : schema().validate(value))
        text += p + "\n";
    return text;
}

// Exactly what module/proc_info.c prints: tabs, the keys in its order, a
// positive error with its name, %pUb's uuid.
const char* const module_output = "{\n\t\"format_version\": 1,\n\t\"version\": \"0.1.0\",\n"
                                  "\t\"abi_version\": 1,\n\t\"events_dropped\": 0,\n"
                                  "\t\"devices\": [\n"
                                  "\t\t{\n\t\t\t\"minor\": 4,\n"
                                  "\t\t\t\"state\": 11,\n\t\t\t\"mode\": \"snapshot\",\n"
                                  "\t\t\t\"activity\": \"active\",\n"
                                  "\t\t\t\"failed\": true,\n"
                                  "\t\t\t\"state_name\": \"failed active snapshot\",\n"
                                  "\t\t\t\"error\": 28,\n\t\t\t\"error_name\": \"ENOSPC\",\n"
                                  "\t\t\t\"bdev\": \"/dev/vdb1\",\n"
                                  "\t\t\t\"cow\": \"/mnt/\\\"odd\\\" name\",\n"
                                  "\t\t\t\"device_sectors\": 131072,\n"
                                  "\t\t\t\"block_size\": 4096,\n"
                                  "\t\t\t\"changed_blocks\": 9,\n"
                                  "\t\t\t\"falloc_size\": 6553600,\n"
                                  "\t\t\t\"cow_used_bytes\": 40960,\n"
                                  "\t\t\t\"cow_free_bytes\": 0,\n"
                                  "\t\t\t\"cow_data_bytes\": 32768,\n"
                                  "\t\t\t\"cache_size\": 0,\n"
                                  "\t\t\t\"cbt_bytes\": 16456,\n"
                                  "\t\t\t\"ignore_errors\": true,\n"
                                  "\t\t\t\"seqid\": 1,\n"
                                  "\t\t\t\"uuid\": \"0a1b2c3d-0000-4000-8000-00000000beef\"\n"
                                  "\t\t}\n\t]\n}\n";

device_info sample_device(std::uint32_t state, int error) {
    device_info info;
    info.minor = 7;
    info.state = state;
    info.error = error;
    info.bdev_path = "/dev/vdc";
    info.cow_path = "/mnt/.bsnap7";
    info.cache_size = 16 << 20;
    info.falloc_size = 40 << 20;
    info.cow_used_bytes = 1 << 20;
    info.cow_free_bytes = 30 << 20;
    info.cow_data_bytes = 512 << 10;
    info.seqid = 3;
    info.uuid = *parse_uuid("00112233-4455-6677-8899-aabbccddeeff");
    info.device_sectors = 1 << 20;
    info.changed_blocks = 12;
    info.block_size = 4096;
    info.cbt_bytes = 16456;
    return info;
}

} // namespace

TEST_CASE("info schema: the module's /proc/bsnap-info text is valid", "[schema]") {
    CHECK(problems_of(json::parse(module_output)) == "");
    CHECK(problems_of(json::parse(R"({"format_version": 1, "version": "0.1.0",
        "abi_version": 1, "events_dropped": 0, "devices": []})")) == "");
}

TEST_CASE("info schema: info --json and status --json are valid documents", "[schema]") {
    proc_info info = parse_proc_info(module_output, "test");
    info.devices.push_back(sample_device(BSNAP_STATE_UNVERIFIED, 0));
    json document = info;
    CHECK(problems_of(document) == "");
    CHECK(problems_of(ctl::status_json(info)) == "");
    CHECK(ctl::status_json(info) == document);
    // Read back from what bsnapctl printed, nothing is lost.
    CHECK(parse_proc_info(document.dump(), "test") == info);
}

TEST_CASE("info schema: info MINOR --json is valid in every state", "[schema]") {
    for (std::uint32_t state = 0; state < 16; ++state) {
        if ((state & BSNAP_STATE_ACTIVE) && (state & BSNAP_STATE_UNVERIFIED))
            continue; // never both
        int error = (state & BSNAP_STATE_FAILED) ? 117 : 0;
        json device = device_document(sample_device(state, error));
        INFO("state " << state << ": " << device.dump());
        CHECK(problems_of(device) == "");
        CHECK(device["state"] == state);
        CHECK(device["failed"] == ((state & BSNAP_STATE_FAILED) != 0));
    }
    json failed = device_document(sample_device(BSNAP_STATE_FAILED | BSNAP_STATE_SNAPSHOT, 28));
    CHECK(failed["error"] == 28);
    CHECK(failed["error_name"] == "ENOSPC");
    CHECK(failed["error_text"] == "No space left on device");
    CHECK(failed["state_name"] == "failed dormant snapshot");
    CHECK(failed["activity"] == "dormant");
    CHECK(failed["cow_free_bytes"] == 30 << 20);
}

TEST_CASE("info schema: bsnapctl prints every field the schema knows, no other", "[schema]") {
    std::ifstream file(BSNAP_INFO_SCHEMA);
    REQUIRE(file);
    json raw = json::parse(file);
    std::set<std::string> in_schema;
    for (const auto& [key, value] : raw["$defs"]["device"]["properties"].items())
        in_schema.insert(key);
    std::set<std::string> printed;
    json device = device_document(sample_device(3, 0));
    for (const auto& [key, value] : device.items())
        printed.insert(key);
    CHECK(printed == in_schema);
}

TEST_CASE("info schema: outputs that break it are caught", "[schema]") {
    json device = device_document(sample_device(BSNAP_STATE_FAILED, 28));
    REQUIRE(problems_of(device) == "");

    json negative = device;
    negative["error"] = -28;
    CHECK_THAT(problems_of(negative), Contains("/error: -28 is below the minimum 0"));

    json missing = device;
    missing.erase("cow_free_bytes");
    CHECK_THAT(problems_of(missing), Contains("\"cow_free_bytes\" is missing"));

    json extra = device;
    extra["state_bits"] = 3;
    CHECK_THAT(problems_of(extra), Contains("/state_bits: not in the schema"));

    json bad_uuid = device;
    bad_uuid["uuid"] = "00112233445566778899aabbccddeeff";
    CHECK_THAT(problems_of(bad_uuid), Contains("/uuid"));

    json bad_name = device;
    bad_name["error_name"] = "-ENOSPC";
    CHECK_THAT(problems_of(bad_name), Contains("/error_name"));

    json no_version = device;
    no_version.erase("format_version");
    CHECK_THAT(problems_of(no_version), Contains("matches none of oneOf"));

    json document = json::parse(module_output);
    document["devices"][0]["mode"] = "mirror";
    CHECK_THAT(problems_of(document), Contains("/devices/0/mode"));
    document = json::parse(module_output);
    document["format_version"] = 2;
    CHECK_THAT(problems_of(document), Contains("matches none of oneOf"));
    CHECK_THAT(problems_of(json::array()), Contains("matches none of oneOf"));
}

TEST_CASE("json_schema: a keyword it does not check is refused", "[schema]") {
    CHECK_THROWS_WITH(json_schema(json::parse(R"({"type": "object", "minProperties": 1})")),
                      Contains("unsupported keyword \"minProperties\""));
    CHECK_THROWS_WITH(json_schema(json::parse(R"({"$ref": "#/$defs/nothing"})")),
                      Contains("names nothing"));
    json_schema big(json::parse(R"({"type": "integer", "minimum": 0,
                                    "maximum": 18446744073709551615})"));
    CHECK(big.validate(json(UINT64_MAX)).empty());
    CHECK_FALSE(big.validate(json(-1)).empty());
    CHECK_FALSE(big.validate(json(1.5)).empty());
}
