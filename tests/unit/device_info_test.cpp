#include <bsnap/device_info.hpp>
#include <bsnap/device_info_json.hpp>
#include <bsnap/device_info_text.hpp>
#include <bsnap/errors.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

using namespace bsnap;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

std::unique_ptr<bsnap_info> sample_raw() {
    auto raw = std::make_unique<bsnap_info>();
    raw->size = sizeof(bsnap_info);
    raw->minor = 3;
    raw->state = BSNAP_STATE_SNAPSHOT | BSNAP_STATE_ACTIVE | BSNAP_STATE_FAILED;
    raw->error = -ENOSPC;
    raw->cache_size = 64ull << 20;
    raw->falloc_size = 100ull << 20;
    raw->seqid = 2;
    for (int i = 0; i < BSNAP_UUID_SIZE; ++i)
        raw->uuid[i] = static_cast<__u8>(0x10 + i);
    raw->device_sectors = 2097152; // 1 GiB
    raw->changed_blocks = 12;
    raw->cow_used_bytes = 48 * 1024;
    raw->cow_free_bytes = 20 * 4096;
    raw->cow_data_bytes = 60 * 4096;
    raw->block_size = 4096;
    raw->flags = BSNAP_FLAG_IGNORE_ERRORS;
    std::strcpy(raw->bdev_path, "/dev/vda1");
    std::strcpy(raw->cow_path, "/.bsnap3");
    return raw;
}

} // namespace

TEST_CASE("the info struct converts to device_info", "[info]") {
    device_info info = to_device_info(*sample_raw());
    CHECK(info.minor == 3);
    CHECK(info.state == 0xbu);
    CHECK(info.error == ENOSPC); // the kernel's -ENOSPC becomes positive
    CHECK(info.bdev_path == "/dev/vda1");
    CHECK(info.cow_path == "/.bsnap3");
    CHECK(info.cache_size == 64ull << 20);
    CHECK(info.falloc_size == 100ull << 20);
    CHECK(info.cow_used_bytes == 48 * 1024);
    CHECK(info.cow_free_bytes == 20 * 4096);
    CHECK(info.cow_data_bytes == 60 * 4096);
    CHECK(info.seqid == 2);
    CHECK(format_uuid(info.uuid) == "10111213-1415-1617-1819-1a1b1c1d1e1f");
    CHECK(info.device_sectors == 2097152);
    CHECK(info.device_bytes() == 1ull << 30);
    CHECK(info.changed_blocks == 12);
    CHECK(info.block_size == 4096);
    CHECK(info.ignore_errors);
    CHECK(info.decoded_state().failed);
}

TEST_CASE("paths without a NUL are cut at the buffer's end", "[info]") {
    auto raw = sample_raw();
    std::memset(raw->cow_path, 'x', sizeof raw->cow_path);
    device_info info = to_device_info(*raw);
    CHECK(info.cow_path.size() == BSNAP_PATH_MAX);
    CHECK(info.bdev_path == "/dev/vda1");
}

TEST_CASE("device_info converts to JSON with every field", "[info][json]") {
    json j = to_device_info(*sample_raw());
    CHECK(j.at("minor") == 3);
    CHECK(j.at("state") == 11);
    CHECK(j.at("mode") == "snapshot");
    CHECK(j.at("state_name") == "failed active snapshot");
    CHECK(j.at("error") == ENOSPC);
    CHECK(j.at("error_name") == "ENOSPC");
    CHECK(j.at("error_text") == "No space left on device");
    CHECK(j.at("activity") == "active");
    CHECK(j.at("failed") == true);
    CHECK(j.at("bdev") == "/dev/vda1");
    CHECK(j.at("cow") == "/.bsnap3");
    CHECK(j.at("cache_size") == 64ull << 20);
    CHECK(j.at("falloc_size") == 100ull << 20);
    CHECK(j.at("cow_used_bytes") == 48 * 1024);
    CHECK(j.at("cow_free_bytes") == 20 * 4096);
    CHECK(j.at("cow_data_bytes") == 60 * 4096);
    CHECK(j.at("seqid") == 2);
    CHECK(j.at("uuid") == "10111213-1415-1617-1819-1a1b1c1d1e1f");
    CHECK(j.at("device_sectors") == 2097152);
    CHECK(j.at("changed_blocks") == 12);
    CHECK(j.at("block_size") == 4096);
    CHECK(j.at("ignore_errors") == true);
    CHECK(j.size() == 22);
}

TEST_CASE("device_info survives a JSON round trip", "[info][json]") {
    device_info info = to_device_info(*sample_raw());
    json j = info;
    CHECK(device_info_from_json(j, "test") == info);
    info.error = 0;
    j = info;
    CHECK(j.at("error_text") == "");
    CHECK(device_info_from_json(j, "test") == info);
}

TEST_CASE("reading device JSON is tolerant", "[info][json]") {
    json j = {
        {"minor", 7}, {"error", -5}, {"future_field", {1, 2}}, {"uuid", nullptr}, {"state", 2}};
    device_info info = device_info_from_json(j, "test");
    CHECK(info.minor == 7);
    CHECK(info.error == EIO); // kernel-style negative errno
    CHECK(info.state == 2);
    CHECK(info.bdev_path.empty());
    CHECK(is_nil(info.uuid));

    info = device_info_from_json(json{{"minor", 1}, {"uuid", "101112131415161718191a1b1c1d1e1f"}},
                                 "test");
    CHECK(format_uuid(info.uuid) == "10111213-1415-1617-1819-1a1b1c1d1e1f");
}

TEST_CASE("bad device JSON names the field", "[info][json]") {
    auto read = [](const json& j) { return device_info_from_json(j, "devices[2]"); };
    CHECK_THROWS_WITH(read(json{{"state", 1}}), "devices[2].minor: missing: Bad message");
    CHECK_THROWS_WITH(read(json{{"minor", "3"}}),
                      Contains("devices[2].minor: expected an unsigned integer, got string"));
    CHECK_THROWS_WITH(read(json{{"minor", -1}}),
                      Contains("devices[2].minor: expected an unsigned"));
    CHECK_THROWS_WITH(read(json{{"minor", 1.5}}),
                      Contains("devices[2].minor: expected an unsigned"));
    CHECK_THROWS_WITH(read(json{{"minor", 1}, {"block_size", 1ull << 32}}),
                      Contains("devices[2].block_size: value 4294967296 out of range"));
    CHECK_THROWS_WITH(read(json{{"minor", 1}, {"cow", 5}}),
                      Contains("devices[2].cow: expected a string, got number"));
    CHECK_THROWS_WITH(read(json{{"minor", 1}, {"uuid", "nope"}}),
                      Contains("devices[2].uuid: not a UUID: 'nope'"));
    CHECK_THROWS_WITH(read(json{{"minor", 1}, {"error", 1ull << 40}}),
                      Contains("devices[2].error: value 1099511627776 out of range"));
    CHECK_THROWS_WITH(read(json::array()), Contains("devices[2]: expected an object, got array"));
    CHECK_THROWS_AS(read(json::array()), format_error);
}

TEST_CASE("device_info as text shows every field", "[info][text]") {
    std::string text = to_text(to_device_info(*sample_raw()));
    CHECK(text == "minor 3: failed active snapshot\n"
                  "  block device:   /dev/vda1\n"
                  "  device size:    1 GiB (2097152 sectors)\n"
                  "  cow file:       /.bsnap3\n"
                  "  cow allocated:  100 MiB\n"
                  "  cow used:       48 KiB\n"
                  "  cache size:     64 MiB\n"
                  "  block size:     4 KiB\n"
                  "  changed blocks: 12\n"
                  "  seqid:          2\n"
                  "  chain uuid:     10111213-1415-1617-1819-1a1b1c1d1e1f\n"
                  "  error:          No space left on device (errno 28)\n"
                  "  on failure:     the image stays readable (-i)\n");
    CHECK(describe_error(0) == "none");
}

TEST_CASE("cow_low is the module's cow-low condition", "[info]") {
    device_info info;
    CHECK_FALSE(info.cow_low()); // incremental mode: no CoW data space
    info.cow_data_bytes = 74;
    info.cow_free_bytes = 26;
    CHECK_FALSE(info.cow_low());
    info.cow_data_bytes = 75;
    info.cow_free_bytes = 25;
    CHECK(info.cow_low());
    info.cow_data_bytes = 0;
    info.cow_free_bytes = 100;
    CHECK_FALSE(info.cow_low());
    info.cow_data_bytes = 4096;
    info.cow_free_bytes = 0; // full
    CHECK(info.cow_low());
}
