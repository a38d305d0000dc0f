// Refusals that say why (refusals.hpp): every sentence, from the errno the
// module answers and the devices /proc/bsnap-info shows.
#include <bsnap/refusals.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <uapi/bsnap.h>

using namespace bsnap;
using Catch::Matchers::Contains;

namespace {

device_info device(unsigned minor, const char* bdev, std::uint32_t state, int error = 0) {
    device_info d;
    d.minor = minor;
    d.bdev_path = bdev;
    d.cow_path = "/mnt/cow" + std::to_string(minor);
    d.state = state;
    d.error = error;
    d.falloc_size = 1 << 20;
    return d;
}

constexpr std::uint32_t active_snapshot = BSNAP_STATE_ACTIVE | BSNAP_STATE_SNAPSHOT;
constexpr std::uint32_t active_incremental = BSNAP_STATE_ACTIVE;

refusal_facts setup(unsigned minor, const char* bdev, std::vector<device_info> devices = {}) {
    return {"setup-snapshot", minor, bdev, "/mnt/new.cow", std::move(devices)};
}

refusal_facts on(const char* operation, unsigned minor, std::vector<device_info> devices) {
    return {operation, minor, "", "/mnt/new.cow", std::move(devices)};
}

std::string why(int err, const refusal_facts& facts) {
    return explain_refusal(err, facts).value_or("(none)");
}

} // namespace

TEST_CASE("setup-snapshot EBUSY: the device traced already, or the minor in use", "[refusals]") {
    auto traced = std::vector{device(0, "/dev/vdb1", active_snapshot)};
    CHECK(why(EBUSY, setup(4, "/dev/vdb1", traced)) ==
          "/dev/vdb1 is traced already, by minor 0: destroy minor 0 first, or take the next "
          "snapshot with transition-to-snapshot 0");
    CHECK(why(EBUSY, setup(0, "/dev/vdc", traced)) ==
          "minor 0 is in use (by /dev/vdb1): pick a free one (bsnapctl get-free-minor)");
    CHECK(why(EBUSY, setup(1, "/dev/vdb", traced)) ==
          "/dev/vdb is busy: a partition of its disk, or the disk of a partition, is traced "
          "already (bsnapctl status)");
}

TEST_CASE("setup-snapshot: not mounted, read-only, CoW file elsewhere", "[refusals]") {
    CHECK(why(ENODEV, setup(0, "/dev/vdb1")) ==
          "/dev/vdb1 is not mounted: setup-snapshot needs its filesystem mounted read-write "
          "(after a reboot, reload-snapshot or reload-incremental take an unmounted device)");
    CHECK(why(EROFS, setup(0, "/dev/vdb1")) ==
          "/dev/vdb1 is mounted read-only: remount it read-write first");
    CHECK(why(EXDEV, setup(0, "/dev/vdb1")) ==
          "the CoW file /mnt/new.cow is not on /dev/vdb1's filesystem: put it on the traced "
          "filesystem");
    CHECK(why(EEXIST, setup(0, "/dev/vdb1")) ==
          "the CoW file /mnt/new.cow exists already: give a new file's path");
    CHECK_FALSE(explain_refusal(ENOMEM, setup(0, "/dev/vdb1")));
}

TEST_CASE("reload EBUSY: mounted, or traced already", "[refusals]") {
    refusal_facts f{"reload-incremental", 2, "/dev/vdb1", ".bsnap", {}};
    CHECK(why(EBUSY, f) == "/dev/vdb1 is mounted: reload takes a device before its filesystem "
                           "is mounted (after a reboot); a mounted one needs setup-snapshot");
    f.devices = {device(0, "/dev/vdb1", 0)};
    CHECK_THAT(why(EBUSY, f), Contains("/dev/vdb1 is traced already, by minor 0"));
    CHECK_FALSE(explain_refusal(ENOENT, f)); // check_reloaded says more
}

TEST_CASE("a failed device refuses transition-to-snapshot with its old errno", "[refusals]") {
    auto failed =
        std::vector{device(3, "/dev/vdc", BSNAP_STATE_FAILED | BSNAP_STATE_ACTIVE, ENOENT)};
    std::string text = why(ENOENT, on("transition-to-snapshot", 3, failed));
    CHECK(text == "minor 3 (/dev/vdc) failed earlier (ENOENT, No such file or directory): its "
                  "change tracking can no longer be trusted, so it yields no snapshot or "
                  "incremental; destroy minor 3 and start a new chain with setup-snapshot and a "
                  "full backup");
    CHECK(why(EINVAL, on("transition-to-incremental", 3, failed)) == text);
}

TEST_CASE("transitions in the wrong mode or state", "[refusals]") {
    CHECK(why(EINVAL, on("transition-to-snapshot", 1, {device(1, "/dev/vdb1", active_snapshot)})) ==
          "minor 1 is a snapshot already: transition-to-incremental 1 first");
    CHECK(why(EINVAL, on("transition-to-snapshot", 1, {device(1, "/dev/vdb1", 0)})) ==
          "minor 1 (/dev/vdb1) is dormant: a snapshot needs its filesystem mounted read-write");
    CHECK(
        why(EXDEV, on("transition-to-snapshot", 1, {device(1, "/dev/vdb1", active_incremental)})) ==
        "the CoW file /mnt/new.cow is not on /dev/vdb1's filesystem: put it on the traced "
        "filesystem");
    CHECK(why(EINVAL,
              on("transition-to-incremental", 1, {device(1, "/dev/vdb1", active_incremental)})) ==
          "minor 1 is incremental already");
}

TEST_CASE("a minor that is not traced", "[refusals]") {
    for (const char* op :
         {"destroy", "transition-to-snapshot", "transition-to-incremental", "reconfigure"})
        CHECK(why(ENOENT, on(op, 9, {device(1, "/dev/vdb1", 0)})) ==
              "minor 9 is not traced (bsnapctl status lists the traced devices)");
}

TEST_CASE("destroy of a dormant device says where its CoW file stays", "[refusals]") {
    CHECK(left_in_place_note(device(3, "/dev/vdb1", 0)) ==
          "minor 3 was dormant: its CoW file /mnt/cow3 is left in place, marked not clean (no "
          "reload trusts it); delete it once /dev/vdb1 is mounted");
}

TEST_CASE("explained() passes errors on unchanged without /proc/bsnap-info", "[refusals]") {
    // The host has no module: "bsnap module not loaded" must stay what it is.
    REQUIRE_FALSE(traced_devices());
    CHECK_THROWS_WITH(explained({"destroy", 200, "", "", {}},
                                [] {
                                    throw std::system_error(ENOENT, std::generic_category(),
                                                            "bsnap module not loaded");
                                }),
                      "bsnap module not loaded: No such file or directory");
}

TEST_CASE("update-img: the device whose CoW file it was given", "[refusals]") {
    char pattern[] = "/tmp/bsnap-unit-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    std::filesystem::path dir = pattern;
    std::ofstream(dir / "cow-1") << "x";
    std::ofstream(dir / "cow-2") << "y";
    std::filesystem::create_symlink(dir / "cow-2", dir / "link");
    device_info a = device(0, "/dev/vdb1", active_incremental);
    a.cow_path = (dir / "cow-1").string();
    device_info b = device(5, "/dev/vdc", active_snapshot);
    b.cow_path = (dir / "cow-2").string();

    auto user = device_using_cow_file((dir / "link").string(), {a, b});
    REQUIRE(user);
    CHECK(user->minor == 5);
    CHECK_FALSE(device_using_cow_file((dir / "cow-1").string(), {b}));
    CHECK_FALSE(device_using_cow_file((dir / "missing").string(), {a, b}));
    CHECK(in_use_refusal("/mnt/c", b) ==
          "CoW file /mnt/c is in use by minor 5 (/dev/vdc): run transition-to-snapshot 5 "
          "first; then it holds the changes up to the new snapshot");
    std::filesystem::remove_all(dir);
}
