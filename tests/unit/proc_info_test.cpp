#include <bsnap/errors.hpp>
#include <bsnap/proc_info.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

using namespace bsnap;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

const char* const two_devices = R"({
  "version": "0.1.0",
  "new_module_field": {"anything": [1, 2, 3]},
  "devices": [
    {"minor": 0, "state": 3, "bdev": "/dev/vda1", "cow": "/.bsnap0",
     "error": 0, "seqid": 1, "uuid": "00112233-4455-6677-8899-aabbccddeeff",
     "device_sectors": 1024, "changed_blocks": 5, "block_size": 4096,
     "cache_size": 0, "falloc_size": 1048576, "cow_used_bytes": 8192, "later": true},
    {"minor": 17, "state": 8, "error": -28}
  ]
})";

// A file in a fresh temporary directory, removed with it.
struct temp_file {
    std::filesystem::path directory;
    std::filesystem::path path;

    explicit temp_file(const std::string& content) {
        char pattern[] = "/tmp/bsnap-unit-XXXXXX";
        REQUIRE(::mkdtemp(pattern) != nullptr);
        directory = pattern;
        path = directory / "bsnap-info";
        std::ofstream(path) << content;
    }
    ~temp_file() { std::filesystem::remove_all(directory); }
};

// Exactly what module/proc_info.c prints (tabs, negative error, %pUb uuid).
const char* const module_output = "{\n\t\"version\": \"0.1.0\",\n\t\"abi_version\": 1,\n"
                                  "\t\"devices\": [\n"
                                  "\t\t{\n\t\t\t\"minor\": 4,\n"
                                  "\t\t\t\"state\": 11,\n\t\t\t\"mode\": \"snapshot\",\n"
                                  "\t\t\t\"error\": -28,\n"
                                  "\t\t\t\"bdev\": \"/dev/vdb1\",\n"
                                  "\t\t\t\"cow\": \"/mnt/\\\"odd\\\" name\",\n"
                                  "\t\t\t\"device_sectors\": 131072,\n"
                                  "\t\t\t\"block_size\": 4096,\n"
                                  "\t\t\t\"changed_blocks\": 9,\n"
                                  "\t\t\t\"falloc_size\": 6553600,\n"
                                  "\t\t\t\"cow_used_bytes\": 40960,\n"
                                  "\t\t\t\"cache_size\": 0,\n"
                                  "\t\t\t\"ignore_errors\": true,\n"
                                  "\t\t\t\"seqid\": 1,\n"
                                  "\t\t\t\"uuid\": \"0a1b2c3d-0000-4000-8000-00000000beef\"\n"
                                  "\t\t}\n\t]\n}\n";

} // namespace

TEST_CASE("the module's own output format parses", "[proc]") {
    proc_info info = parse_proc_info(module_output);
    CHECK(info.version == "0.1.0");
    CHECK(info.abi_version == 1);
    REQUIRE(info.devices.size() == 1);
    const device_info& d = info.devices[0];
    CHECK(d.minor == 4);
    CHECK(describe_state(d.state) == "failed active snapshot");
    CHECK(d.error == 28);
    CHECK(d.bdev_path == "/dev/vdb1");
    CHECK(d.cow_path == "/mnt/\"odd\" name");
    CHECK(d.device_sectors == 131072);
    CHECK(d.block_size == 4096);
    CHECK(d.changed_blocks == 9);
    CHECK(d.falloc_size == 6553600);
    CHECK(d.cow_used_bytes == 40960);
    CHECK(d.cache_size == 0);
    CHECK(d.ignore_errors);
    CHECK(d.seqid == 1);
    CHECK(format_uuid(d.uuid) == "0a1b2c3d-0000-4000-8000-00000000beef");
}

TEST_CASE("the module's JSON parses, unknown fields ignored", "[proc]") {
    proc_info info = parse_proc_info(two_devices);
    CHECK(info.version == "0.1.0");
    REQUIRE(info.devices.size() == 2);
    const device_info& first = info.devices[0];
    CHECK(first.minor == 0);
    CHECK(first.state == 3);
    CHECK(first.bdev_path == "/dev/vda1");
    CHECK(first.cow_path == "/.bsnap0");
    CHECK(first.seqid == 1);
    CHECK(format_uuid(first.uuid) == "00112233-4455-6677-8899-aabbccddeeff");
    CHECK(first.device_sectors == 1024);
    CHECK(first.changed_blocks == 5);
    CHECK(first.falloc_size == 1048576);
    CHECK(first.cow_used_bytes == 8192);
    CHECK(info.devices[1].minor == 17);
    CHECK(info.devices[1].error == 28);
    CHECK(info.devices[1].decoded_state().failed);
}

TEST_CASE("an empty module parses", "[proc]") {
    proc_info info = parse_proc_info(R"({"version": "0.1.0", "devices": []})");
    CHECK(info.version == "0.1.0");
    CHECK(info.devices.empty());
    CHECK(info.abi_version == 0); // not given
    CHECK(to_text(info) == "bsnap module 0.1.0: no devices\n");
    CHECK(to_text(parse_proc_info(R"({"version": "0.2.0", "abi_version": 3, "devices": []})")) ==
          "bsnap module 0.2.0 (ABI 3): no devices\n");
}

TEST_CASE("malformed JSON gives a clear format error", "[proc]") {
    CHECK_THROWS_WITH(parse_proc_info("{\"version\": \"0.1.0\", \"devices\": [}", "info"),
                      StartsWith("info: malformed JSON: parse error at line 1, column 34"));
    CHECK_THROWS_WITH(parse_proc_info("", "info"), StartsWith("info: malformed JSON:"));
    CHECK_THROWS_WITH(parse_proc_info("{\"version\": \"0.1.0\", \"devices\": []} x", "info"),
                      StartsWith("info: malformed JSON:"));
    try {
        parse_proc_info("nonsense");
        FAIL("no exception");
    } catch (const format_error& e) {
        CHECK(e.code().value() == EBADMSG);
        CHECK_THAT(e.what(), StartsWith("/proc/bsnap-info: malformed JSON"));
    }
}

TEST_CASE("well-formed JSON of the wrong shape is refused", "[proc]") {
    CHECK_THROWS_WITH(parse_proc_info("[]", "info"),
                      "info: expected a JSON object, got array: Bad message");
    CHECK_THROWS_WITH(parse_proc_info(R"({"devices": []})", "info"),
                      Contains("info: missing \"version\""));
    CHECK_THROWS_WITH(parse_proc_info(R"({"version": 1, "devices": []})", "info"),
                      Contains("info: \"version\" is a number, expected a string"));
    CHECK_THROWS_WITH(
        parse_proc_info(R"({"version": "0.1.0", "abi_version": "1", "devices": []})", "info"),
        Contains("info: \"abi_version\" is \"1\", expected an unsigned 32-bit integer"));
    CHECK_THROWS_WITH(parse_proc_info(R"({"version": "0.1.0"})", "info"),
                      Contains("info: missing \"devices\""));
    CHECK_THROWS_WITH(parse_proc_info(R"({"version": "0.1.0", "devices": {}})", "info"),
                      Contains("info: \"devices\" is a object, expected an array"));
    CHECK_THROWS_WITH(
        parse_proc_info(R"({"version": "0.1.0", "devices": [{"minor": 1}, {"minor": "x"}]})",
                        "info"),
        Contains("info: devices[1].minor: expected an unsigned integer"));
}

TEST_CASE("module info converts to JSON and text", "[proc]") {
    proc_info info = parse_proc_info(two_devices);
    nlohmann::json j = info;
    CHECK(j.at("version") == "0.1.0");
    CHECK(j.at("abi_version") == 0);
    REQUIRE(j.at("devices").size() == 2);
    CHECK(j["devices"][0].at("bdev") == "/dev/vda1");
    CHECK(j["devices"][1].at("state_name") == "failed dormant incremental");
    CHECK(parse_proc_info(j.dump()) == info);

    std::string text = to_text(info);
    CHECK_THAT(text, StartsWith("bsnap module 0.1.0: 2 devices\n\nminor 0: active snapshot\n"));
    CHECK_THAT(text, Contains("\nminor 17: failed dormant incremental\n"));
}

TEST_CASE("read_proc_info reads a file and explains a missing one", "[proc]") {
    temp_file file(two_devices);
    proc_info info = read_proc_info(file.path);
    CHECK(info.devices.size() == 2);

    try {
        read_proc_info(file.directory / "missing");
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == ENOENT);
        CHECK_THAT(e.what(), StartsWith("bsnap module not loaded (no " +
                                        (file.directory / "missing").string() + ")"));
    }

    temp_file bad("{");
    CHECK_THROWS_WITH(read_proc_info(bad.path), StartsWith(bad.path.string() + ": malformed JSON"));
}
