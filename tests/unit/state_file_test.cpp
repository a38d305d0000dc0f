// bsnapd's state file: round trip, atomic replace, and the refusal of every
// file that is not exactly what bsnapd wrote.
#include "daemon_test_support.hpp"
#include "state_file.hpp"
#include "state_keeper.hpp"

#include <nlohmann/json.hpp>
#include <regex>
#include <zlib.h>

using namespace bsnap;
using namespace bsnap::daemon;
using namespace bsnap::daemon::test;
using Catch::Matchers::Contains;

namespace {

state two_devices() {
    state s;
    s.devices.push_back(sample_device(0, "11111111-2222-3333-4444-555555555555", true));
    traced_device d = sample_device(7, "");
    d.identity.partuuid = "abcdef01-02";
    d.mode = device_mode::snapshot;
    d.cow = "var/lib/backup/cow 7";
    d.seqid = 12;
    d.cache_size = 64 << 20;
    d.ignore_errors = true;
    s.devices.push_back(d);
    return s;
}

// The text of a valid file, with one edit to its JSON, checksum recomputed
// (so that only the schema can refuse it) unless keep_checksum.
std::string edited(const std::function<void(nlohmann::json&)>& edit, bool keep_checksum = false) {
    nlohmann::json j = nlohmann::json::parse(serialize_state(two_devices()));
    std::string old_checksum = j["checksum"];
    edit(j);
    if (keep_checksum)
        return j.dump(2);
    // Recompute as bsnapd does: crc32 of the compact dump without "checksum".
    j.erase("checksum");
    std::string text = j.dump();
    uLong crc = ::crc32(0L, Z_NULL, 0);
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(text.data()), static_cast<uInt>(text.size()));
    char hex[16];
    std::snprintf(hex, sizeof hex, "%08lx", crc & 0xffffffffUL);
    j["checksum"] = std::string("crc32:") + hex;
    return j.dump(2);
}

void check_corrupt(const std::string& text, const std::string& message) {
    try {
        parse_state(text, "state.json");
        FAIL("accepted: " << text);
    } catch (const state_file_error& e) {
        CHECK(e.problem() == state_file_error::kind::corrupt);
        CHECK_THAT(e.what(), Contains(message));
        CHECK(e.code().value() == EBADMSG);
    }
}

} // namespace

TEST_CASE("state file round trip", "[state]") {
    temp_dir dir;
    state s = two_devices();
    save_state(dir / "state.json", s);
    auto loaded = load_state(dir / "state.json");
    REQUIRE(loaded);
    CHECK(*loaded == s);
    CHECK(!std::filesystem::exists(dir / "state.json.tmp"));

    // The format as documented: version, format, checksum, relative cow.
    nlohmann::json j = nlohmann::json::parse(read_text(dir / "state.json"));
    CHECK(j["format"] == "bsnapd-state");
    CHECK(j["version"] == 1);
    CHECK(std::regex_match(j["checksum"].get<std::string>(), std::regex("crc32:[0-9a-f]{8}")));
    CHECK(j["devices"][0]["root"] == true);
    CHECK(j["devices"][1]["cow"] == "var/lib/backup/cow 7");
    CHECK(j["devices"][1]["partuuid"] == "abcdef01-02");
    CHECK(j["devices"][1]["mode"] == "snapshot");
    CHECK(j["devices"][1]["ignore_errors"] == true);
    CHECK(j["devices"][0]["ignore_errors"] == false);

    SECTION("a file written before ignore_errors existed reloads without -i") {
        std::string text = edited([](nlohmann::json& doc) {
            for (auto& dev : doc["devices"])
                dev.erase("ignore_errors");
        });
        state old = parse_state(text, "state.json");
        REQUIRE(old.devices.size() == 2);
        CHECK(!old.devices[1].ignore_errors);
        CHECK(old.devices[1].cache_size == 64 << 20);
    }
    SECTION("ignore_errors must be a boolean") {
        check_corrupt(edited([](nlohmann::json& doc) { doc["devices"][1]["ignore_errors"] = 1; }),
                      "\"ignore_errors\" is not true or false");
    }

    SECTION("an unknown cow path is null") {
        s.devices[1].cow.reset();
        save_state(dir / "state.json", s);
        CHECK(load_state(dir / "state.json")->devices[1].cow == std::nullopt);
    }
    SECTION("devices are written sorted by minor") {
        std::swap(s.devices[0], s.devices[1]);
        CHECK(serialize_state(s) == serialize_state(two_devices()));
    }
    SECTION("an empty state") {
        save_state(dir / "sub" / "dir" / "state.json", state{});
        CHECK(load_state(dir / "sub" / "dir" / "state.json") == state{});
    }
}

TEST_CASE("state file missing", "[state]") {
    temp_dir dir;
    CHECK(load_state(dir / "none.json") == std::nullopt);
    log_capture log;
    bool corrupt = true;
    CHECK(load_or_quarantine(dir / "none.json", &corrupt) == std::nullopt);
    CHECK(!corrupt);
    CHECK(log.has(priority::notice, "no state file"));
}

TEST_CASE("state file replace is atomic", "[state]") {
    temp_dir dir;
    auto path = dir / "state.json";
    state old_state = two_devices();
    save_state(path, old_state);
    std::string old_text = read_text(path);

    state new_state = old_state;
    new_state.devices[0].seqid = 99;

    SECTION("a crash between the write and the rename leaves the old file") {
        auto crash = [](const std::filesystem::path& temporary) {
            // The new content is complete and synced in the temporary file...
            CHECK_THAT(read_text(temporary), Contains("99"));
            throw std::runtime_error("simulated crash");
        };
        CHECK_THROWS_WITH(save_state(path, new_state, crash), "simulated crash");
        CHECK(read_text(path) == old_text);
        CHECK(*load_state(path) == old_state);
        // ...and the leftover temporary file is never read, and overwritten next time.
        CHECK(std::filesystem::exists(dir / "state.json.tmp"));
        save_state(path, new_state);
        CHECK(*load_state(path) == new_state);
        CHECK(!std::filesystem::exists(dir / "state.json.tmp"));
    }
    SECTION("a torn temporary file from an earlier crash does not matter") {
        write_text(dir / "state.json.tmp", "{\"format\": \"bsnapd-st");
        CHECK(*load_state(path) == old_state);
        save_state(path, new_state);
        CHECK(*load_state(path) == new_state);
    }
    SECTION("a failed write leaves the old file") {
        std::filesystem::create_directory(dir / "state.json.tmp"); // open fails: EISDIR
        CHECK_THROWS_AS(save_state(path, new_state), std::system_error);
        CHECK(read_text(path) == old_text);
    }
}

TEST_CASE("state file corrupted", "[state]") {
    std::string good = serialize_state(two_devices());
    check_corrupt("", "not JSON");
    check_corrupt(good.substr(0, good.size() / 2), "not JSON");
    check_corrupt("[]", "expected an object");

    // A flipped digit: the checksum catches it.
    std::string flipped = good;
    flipped.replace(flipped.find("\"seqid\": 12"), 11, "\"seqid\": 13");
    check_corrupt(flipped, "checksum mismatch");
    check_corrupt(edited([](auto& j) { j["checksum"] = "crc32:00000000"; }, true),
                  "checksum mismatch");
    check_corrupt(edited([](auto& j) { j.erase("checksum"); }, true), "missing \"checksum\"");

    // Schema, with a matching checksum.
    check_corrupt(edited([](auto& j) { j["format"] = "other"; }), "\"format\"");
    check_corrupt(edited([](auto& j) { j["extra"] = 1; }), "unknown key \"extra\"");
    check_corrupt(edited([](auto& j) { j["devices"] = 3; }), "\"devices\" is not an array");
    check_corrupt(edited([](auto& j) { j["devices"][0].erase("minor"); }),
                  "devices[0]: missing \"minor\"");
    check_corrupt(edited([](auto& j) { j["devices"][0]["minor"] = 256; }), "\"minor\" is 256");
    check_corrupt(edited([](auto& j) { j["devices"][0]["minor"] = -1; }), "\"minor\" is -1");
    check_corrupt(edited([](auto& j) { j["devices"][1]["minor"] = 0; }), "appears twice");
    check_corrupt(edited([](auto& j) { j["devices"][0]["mode"] = "both"; }), "\"mode\"");
    check_corrupt(edited([](auto& j) { j["devices"][0]["cow"] = "/abs/cow"; }),
                  "expected a path relative");
    check_corrupt(edited([](auto& j) { j["devices"][0]["cow"] = 5; }), "\"cow\"");
    check_corrupt(edited([](auto& j) { j["devices"][0]["chain_uuid"] = "xyz"; }), "\"chain_uuid\"");
    check_corrupt(edited([](auto& j) { j["devices"][0]["seqid"] = "3"; }), "\"seqid\"");
    check_corrupt(edited([](auto& j) { j["devices"][0]["root"] = 1; }), "\"root\"");
    check_corrupt(edited([](auto& j) { j["devices"][0]["fs_uuid"] = ""; }),
                  "neither \"fs_uuid\" nor \"partuuid\"");
    check_corrupt(edited([](auto& j) { j["devices"][1]["later"] = true; }),
                  "devices[1]: unknown key \"later\"");
}

TEST_CASE("state file of an unknown version", "[state]") {
    for (int version : {0, 2, 100}) {
        std::string text = edited([version](auto& j) { j["version"] = version; });
        try {
            parse_state(text, "state.json");
            FAIL("accepted version " << version);
        } catch (const state_file_error& e) {
            CHECK(e.problem() == state_file_error::kind::version_unsupported);
            CHECK_THAT(e.what(), Contains("version " + std::to_string(version)));
        }
    }
    // Checked before the checksum, whose algorithm a new version may change.
    std::string text = edited([](auto& j) { j["version"] = 2; }, true);
    CHECK_THROWS_MATCHES(parse_state(text, "s"), state_file_error,
                         Catch::Predicate<state_file_error>([](const state_file_error& e) {
                             return e.problem() == state_file_error::kind::version_unsupported;
                         }));
}

TEST_CASE("a corrupt state file is moved aside, loudly, and trusted for nothing", "[state]") {
    temp_dir dir;
    auto path = dir / "state.json";
    std::string bad = serialize_state(two_devices());
    bad[bad.find("crc32:") + 6] ^= 1;
    write_text(path, bad);

    log_capture log;
    bool corrupt = false;
    CHECK(load_or_quarantine(path, &corrupt) == std::nullopt);
    CHECK(corrupt);
    CHECK(!std::filesystem::exists(path));
    std::vector<std::filesystem::path> aside;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path))
        aside.push_back(entry.path());
    REQUIRE(aside.size() == 1);
    CHECK(std::regex_match(aside[0].filename().string(),
                           std::regex(R"(state\.json\.corrupt-\d{8}T\d{6}Z)")));
    CHECK(read_text(aside[0]) == bad);
    CHECK(log.has(priority::err, "STATE FILE UNUSABLE"));
    CHECK(log.has(priority::err, "FULL backup"));
    CHECK(log.has(priority::err, aside[0].string()));

    SECTION("a second one in the same second does not replace the first") {
        write_text(path, "garbage");
        auto second = quarantine_state(path);
        CHECK(second != aside[0]);
        CHECK(read_text(aside[0]) == bad);
        CHECK(read_text(second) == "garbage");
    }
}
