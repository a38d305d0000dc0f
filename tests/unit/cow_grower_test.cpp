// bsnapd on "cow-low": how much to grow, what it logs, the command line.
#include "daemon_test_support.hpp"

#include <cerrno>
#include <cow_grower.hpp>
#include <options.hpp>

using namespace bsnap;
using namespace bsnap::daemon;
using namespace bsnap::daemon::test;
using Catch::Matchers::Contains;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;
constexpr std::uint64_t GiB = 1024 * MiB;

// Actions that record what was asked and answer from fields.
struct fake_world {
    device_info info;
    fs_space space{100 * GiB, 50 * GiB};
    cow_growth_result result;
    int fail_errno = 0; // grow throws this
    std::vector<std::uint64_t> grown;
    std::vector<std::filesystem::path> space_asked;

    cow_grow_actions actions() {
        cow_grow_actions act;
        act.info = [this](unsigned minor) {
            device_info i = info;
            i.minor = minor;
            return i;
        };
        act.locate = [](const device_info& i) { return std::filesystem::path(i.cow_path); };
        act.space = [this](const std::filesystem::path& dir) {
            space_asked.push_back(dir);
            return space;
        };
        act.grow = [this](unsigned, const std::filesystem::path&, std::uint64_t bytes) {
            if (fail_errno)
                throw errno_error(fail_errno, "minor 0 (cow /mnt/x/.bsnap0)");
            grown.push_back(bytes);
            cow_growth_result r = result;
            r.grown_bytes = bytes;
            return r;
        };
        return act;
    }
};

} // namespace

TEST_CASE("growth step: a share of the file, keeping the filesystem's share free", "[cow_grow]") {
    cow_grow_options o; // 50 %, 10 %
    std::string why;
    // 50 % of 1 GiB fits in 50 of 100 GiB available.
    CHECK(growth_step(1 * GiB, {100 * GiB, 50 * GiB}, o, &why) == 512 * MiB);
    // Rounded up to 4 KiB slots.
    CHECK(growth_step(1001, {100 * GiB, 50 * GiB}, o, &why) == 4096);
    // 10 GiB + 512 MiB available, 10 GiB kept: 512 MiB fits exactly.
    CHECK(growth_step(1 * GiB, {100 * GiB, 10 * GiB + 512 * MiB}, o, &why) == 512 * MiB);
    // Only 100 MiB above the 10 %: grow by what fits.
    CHECK(growth_step(1 * GiB, {100 * GiB, 10 * GiB + 100 * MiB}, o, &why) == 100 * MiB);
    // What fits is rounded down to 4 KiB.
    CHECK(growth_step(1 * GiB, {100 * GiB, 10 * GiB + 100 * MiB + 5}, o, &why) == 100 * MiB);
    // Exactly 16 MiB fits: taken; less: nothing, and why.
    CHECK(growth_step(1 * GiB, {100 * GiB, 10 * GiB + 16 * MiB}, o, &why) == 16 * MiB);
    why.clear();
    CHECK(growth_step(1 * GiB, {100 * GiB, 10 * GiB + 16 * MiB - 4096}, o, &why) == 0);
    CHECK_THAT(why, Contains("growing it by 512 MiB (or at least 16 MiB) would leave its "
                             "filesystem less than 10 % free"));
    // Below the 10 % already.
    CHECK(growth_step(1 * GiB, {100 * GiB, 5 * GiB}, o, &why) == 0);
    // Other shares.
    o.grow_percent = 200;
    o.min_free_percent = 0;
    CHECK(growth_step(1 * GiB, {100 * GiB, 3 * GiB}, o, &why) == 2 * GiB);
    CHECK(growth_step(1 * GiB, {100 * GiB, 1 * GiB}, o, &why) == 1 * GiB);
    // No overflow near 2^64.
    o.grow_percent = 50;
    o.min_free_percent = 10;
    const std::uint64_t huge = ~std::uint64_t{0} - 4096 * 3;
    CHECK(growth_step(huge / 4, {huge, huge}, o, &why) % 4096 == 0);
    CHECK(growth_step(huge / 4, {huge, huge}, o, &why) >= huge / 8);
    // An empty file: nothing to grow by.
    why.clear();
    CHECK(growth_step(0, {100 * GiB, 50 * GiB}, o, &why) == 0);
    CHECK_FALSE(why.empty());
}

TEST_CASE("cow-low: the file is grown and the growth logged at info", "[cow_grow]") {
    fake_world world;
    world.info.cow_path = "/mnt/x/.bsnap0";
    world.info.falloc_size = 128 * MiB;
    world.result.file_size = 192 * MiB;
    world.result.grown_off = 128 * MiB;
    world.result.usable_bytes = 60 * MiB;
    world.result.free_bytes = 70 * MiB;
    cow_grow_actions act = world.actions();
    log_capture log;
    grow_on_cow_low(0, cow_grow_options{}, act);
    CHECK(world.grown == std::vector<std::uint64_t>{64 * MiB});
    CHECK(world.space_asked == std::vector<std::filesystem::path>{"/mnt/x"});
    CHECK(log.has(priority::info, "bsnap0: CoW file grown by 64 MiB to 192 MiB; 60 MiB of it "
                                  "usable (free in the snapshot), 70 MiB free for CoW data"));
    CHECK_FALSE(log.has(priority::warning, ""));
}

TEST_CASE("cow-low: a growth mostly in use at the snapshot is a warning", "[cow_grow]") {
    fake_world world;
    world.info.cow_path = "/mnt/x/.bsnap3";
    world.info.falloc_size = 128 * MiB;
    world.result.file_size = 192 * MiB;
    world.result.usable_bytes = 31 * MiB; // under half of 64 MiB
    world.result.notes = {"3 extents (12 KiB) of /mnt/x/.bsnap3 left unused"};
    cow_grow_actions act = world.actions();
    log_capture log;
    grow_on_cow_low(3, cow_grow_options{}, act);
    CHECK(log.has(priority::info, "bsnap3: CoW file grown by 64 MiB"));
    CHECK(log.has(priority::warning, "bsnap3: only 31 MiB of the 64 MiB added to the CoW file "
                                     "can take CoW data"));
    CHECK(log.has(priority::warning, "space freed since, by deleting files, still holds data "
                                     "the snapshot needs"));
    CHECK(log.has(priority::warning, "bsnap3: 3 extents (12 KiB) of /mnt/x/.bsnap3 left unused"));

    // Half or more: no warning.
    world.result.usable_bytes = 32 * MiB;
    world.result.notes.clear();
    log_capture quiet;
    grow_on_cow_low(3, cow_grow_options{}, act);
    CHECK_FALSE(quiet.has(priority::warning, ""));
}

TEST_CASE("cow-low: no room on the filesystem, a warning and no growth", "[cow_grow]") {
    fake_world world;
    world.info.cow_path = "/srv/.bsnap1";
    world.info.falloc_size = 1 * GiB;
    world.space = {100 * GiB, 10 * GiB + 1 * MiB};
    cow_grow_actions act = world.actions();
    log_capture log;
    grow_on_cow_low(1, cow_grow_options{}, act);
    CHECK(world.grown.empty());
    CHECK(log.has(priority::warning, "bsnap1: CoW file /srv/.bsnap1 not grown: growing it by "
                                     "512 MiB (or at least 16 MiB) would leave its filesystem "
                                     "less than 10 % free"));
    CHECK(log.has(priority::warning, "the snapshot fails when the file fills"));
}

TEST_CASE("cow-low: failures are warnings with the errno text, never thrown", "[cow_grow]") {
    fake_world world;
    world.info.cow_path = "/mnt/x/.bsnap0";
    world.info.falloc_size = 128 * MiB;
    world.fail_errno = ENOSPC;
    cow_grow_actions act = world.actions();
    log_capture log;
    REQUIRE_NOTHROW(grow_on_cow_low(0, cow_grow_options{}, act));
    CHECK(log.has(priority::warning, "bsnap0: CoW file growth failed: minor 0 (cow "
                                     "/mnt/x/.bsnap0): No space left on device"));

    act.info = [](unsigned) -> device_info { throw errno_error(ENOENT, "minor 9"); };
    REQUIRE_NOTHROW(grow_on_cow_low(9, cow_grow_options{}, act));
    CHECK(log.has(priority::warning,
                  "bsnap9: CoW file growth failed: minor 9: No such file or directory"));

    act.info = [](unsigned) -> device_info { throw std::runtime_error("surprise"); };
    REQUIRE_NOTHROW(grow_on_cow_low(9, cow_grow_options{}, act));
    CHECK(log.has(priority::warning, "bsnap9: CoW file growth failed: surprise"));
}

TEST_CASE("bsnapd command line: CoW growth options", "[cow_grow]") {
    options o = parse_options({}, nullptr);
    CHECK(o.cow_grow.enabled);
    CHECK(o.cow_grow.grow_percent == 50);
    CHECK(o.cow_grow.min_free_percent == 10);
    o = parse_options({"--no-cow-grow"}, nullptr);
    CHECK_FALSE(o.cow_grow.enabled);
    o = parse_options({"--cow-grow-percent", "25", "--cow-min-free-percent", "0"}, nullptr);
    CHECK(o.cow_grow.grow_percent == 25);
    CHECK(o.cow_grow.min_free_percent == 0);
    CHECK(parse_options({"--cow-grow-percent", "1000"}, nullptr).cow_grow.grow_percent == 1000);
    CHECK(parse_options({"--cow-min-free-percent", "99"}, nullptr).cow_grow.min_free_percent == 99);
    CHECK_THROWS_AS(parse_options({"--cow-grow-percent", "0"}, nullptr), usage_error);
    CHECK_THROWS_AS(parse_options({"--cow-grow-percent", "1001"}, nullptr), usage_error);
    CHECK_THROWS_AS(parse_options({"--cow-min-free-percent", "100"}, nullptr), usage_error);
    CHECK_THROWS_AS(parse_options({"--cow-grow-percent", "x"}, nullptr), usage_error);
    CHECK_THROWS_AS(parse_options({"--cow-grow"}, nullptr), usage_error); // no guessing
    CHECK_THAT(usage_text(), Contains("--cow-grow-percent N"));
    CHECK_THAT(usage_text(), Contains("--no-cow-grow"));
}

TEST_CASE("the periodic check grows each low snapshot once per file size", "[cow-grow]") {
    auto dev = [](unsigned minor, std::uint32_t state, std::uint64_t data, std::uint64_t free,
                  std::uint64_t falloc) {
        device_info d;
        d.minor = minor;
        d.state = state;
        d.cow_data_bytes = data;
        d.cow_free_bytes = free;
        d.falloc_size = falloc;
        return d;
    };
    const std::uint32_t snap = BSNAP_STATE_SNAPSHOT | BSNAP_STATE_ACTIVE;
    std::map<unsigned, std::uint64_t> tried;
    std::vector<device_info> devices{
        dev(1, snap, 80, 20, 100),                     // low
        dev(2, snap, 10, 90, 100),                     // not low
        dev(3, BSNAP_STATE_ACTIVE, 0, 0, 100),         // incremental
        dev(4, snap | BSNAP_STATE_FAILED, 99, 1, 100), // failed: nothing to save
        dev(5, snap, 75, 25, 100),                     // exactly at the threshold
    };
    CHECK(cow_low_to_grow(devices, tried) == std::vector<unsigned>{1, 5});
    // The next tick: nothing changed, nothing is tried again.
    CHECK(cow_low_to_grow(devices, tried).empty());
    // Minor 1 grew but is still low at its new size: tried once more.
    devices[0] = dev(1, snap, 80, 25, 150);
    CHECK(cow_low_to_grow(devices, tried) == std::vector<unsigned>{1});
    // Minor 5 went away and came back: a new snapshot, tried again.
    devices.pop_back();
    CHECK(cow_low_to_grow(devices, tried).empty());
    devices.push_back(dev(5, snap, 75, 25, 100));
    CHECK(cow_low_to_grow(devices, tried) == std::vector<unsigned>{5});
}
