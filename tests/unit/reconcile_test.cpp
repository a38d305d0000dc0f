// bsnapd: the mount table, relative CoW paths, and how the state file follows
// the module (reconcile).
#include "daemon_test_support.hpp"
#include "mount_table.hpp"
#include "reconcile.hpp"

#include <cerrno>
#include <sys/sysmacros.h>

using namespace bsnap;
using namespace bsnap::daemon;
using namespace bsnap::daemon::test;
using Catch::Matchers::Contains;

TEST_CASE("relative CoW path from an absolute one and the mount points", "[reconcile]") {
    CHECK(relative_cow_path("/mnt/data/.bsnap0", {"/mnt/data"}) == ".bsnap0");
    CHECK(relative_cow_path("/mnt/data/sub/cow", {"/mnt/data"}) == "sub/cow");
    CHECK(relative_cow_path("/.bsnap0", {"/"}) == ".bsnap0");
    CHECK(relative_cow_path("/var/cow", {"/"}) == "var/cow");
    // A relative path (after a reload) is kept as it is.
    CHECK(relative_cow_path("var/cow", {}) == "var/cow");
    // Not mounted: unknown.
    CHECK(relative_cow_path("/mnt/data/.bsnap0", {}) == std::nullopt);
    // A mount point is a directory prefix, not a string prefix.
    CHECK(relative_cow_path("/mnt/database/cow", {"/mnt/data"}) == std::nullopt);
    // Mounted twice: the deeper mount point wins; either gives the same file.
    CHECK(relative_cow_path("/srv/a/b/cow", {"/srv", "/srv/a"}) == "b/cow");
    CHECK(relative_cow_path("/mnt/data", {"/mnt/data"}) == std::nullopt);
    CHECK(relative_cow_path("", {"/"}) == std::nullopt);
}

TEST_CASE("mount table from a mountinfo file", "[reconcile]") {
    temp_dir dir;
    write_text(dir / "mountinfo",
               "21 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
               "22 21 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw\n"
               "30 21 254:17 / /mnt/data rw,relatime shared:3 - xfs /dev/vdb1 rw\n"
               "31 21 254:17 /sub /srv/bind ro,relatime shared:3 - xfs /dev/vdb1 rw\n"
               "32 21 254:17 / /mnt/other\\040dir ro,relatime shared:3 - xfs /dev/vdb1 rw\n");
    mount_table mounts = read_mount_table(dir / "mountinfo");
    REQUIRE(mounts.size() == 5);
    CHECK(mounts[0] == mount_entry{makedev(254, 1), "/", "/", false});
    CHECK(mounts[3].root == "/sub");
    CHECK(mounts[4].read_only);
    CHECK(mount_points(mounts, makedev(254, 17)) ==
          std::vector<std::string>{"/mnt/data", "/mnt/other dir"});
    CHECK(mount_points(mounts, makedev(8, 1)).empty());
    CHECK(root_device(mounts) == makedev(254, 1));
    CHECK(root_device(mount_table{}) == std::nullopt);
    CHECK_THROWS_AS(read_mount_table(dir / "none"), std::system_error);
}

namespace {

observed_device seen(unsigned minor, const std::string& fs_uuid, const std::string& cow,
                     std::uint32_t state_bits, std::vector<std::string> mounts = {}) {
    observed_device d;
    d.info.minor = minor;
    d.info.state = state_bits;
    d.info.bdev_path = "/dev/vd" + std::string(1, static_cast<char>('a' + minor));
    d.info.cow_path = cow;
    d.info.seqid = 3;
    d.info.uuid = sample_device(minor, fs_uuid).chain_uuid;
    d.identity.fs_uuid = fs_uuid;
    d.mount_points = std::move(mounts);
    return d;
}

observation loaded(std::vector<observed_device> devices, std::string instance = "boot-a/100") {
    observation now;
    now.module_loaded = true;
    now.module_instance = std::move(instance);
    now.devices = std::move(devices);
    return now;
}

} // namespace

TEST_CASE("reconcile: a new device is written with its relative CoW path", "[reconcile]") {
    auto result = reconcile(state{}, loaded({seen(1, "U1", "/mnt/d/.bsnap1", 3, {"/mnt/d"})}));
    REQUIRE(result.next.devices.size() == 1);
    const auto& d = result.next.devices[0];
    CHECK(d.identity.fs_uuid == "U1");
    CHECK(d.mode == device_mode::snapshot);
    CHECK(d.cow == ".bsnap1");
    CHECK(d.seqid == 3);
    CHECK(d.device == "/dev/vdb");
    CHECK(d.module_instance == "boot-a/100");
    CHECK(!d.root);
    REQUIRE(result.changes.size() == 1);
    CHECK_THAT(result.changes[0], Contains("now traced"));
    CHECK(result.warnings.empty());

    // The same observation again: nothing changes.
    auto again = reconcile(result.next, loaded({seen(1, "U1", "/mnt/d/.bsnap1", 3, {"/mnt/d"})}));
    CHECK(again.next == result.next);
    CHECK(again.changes.empty());
}

TEST_CASE("reconcile: the root filesystem is marked", "[reconcile]") {
    observed_device root = seen(0, "R", "/.bsnap0", 2, {"/"});
    root.is_root = true;
    auto result = reconcile(state{}, loaded({root}));
    CHECK(result.next.devices.at(0).root);
    CHECK(result.next.devices.at(0).cow == ".bsnap0");
}

TEST_CASE("reconcile: transitions update mode, seqid and CoW path", "[reconcile]") {
    state s;
    s.devices.push_back(sample_device(1, "U1")); // incremental, .bsnap1, seqid 3
    observed_device now = seen(1, "U1", "/mnt/d/next-cow", 3, {"/mnt/d"});
    now.info.seqid = 4;
    auto result = reconcile(s, loaded({now}));
    const auto& d = result.next.devices.at(0);
    CHECK(d.mode == device_mode::snapshot);
    CHECK(d.seqid == 4);
    CHECK(d.cow == "next-cow");
    REQUIRE(result.changes.size() == 1);
    CHECK_THAT(result.changes[0], Contains("incremental -> snapshot"));
    CHECK_THAT(result.changes[0], Contains("seqid 3 -> 4"));
}

TEST_CASE("reconcile: -i is kept, and a failed snapshot is to be reloaded incremental",
          "[reconcile]") {
    observed_device now = seen(1, "U1", "/mnt/d/.bsnap1", 3, {"/mnt/d"});
    now.info.ignore_errors = true;
    auto ok = reconcile(state{}, loaded({now}));
    CHECK(ok.next.devices.at(0).ignore_errors);
    CHECK(ok.next.devices.at(0).mode == device_mode::snapshot);

    // The snapshot failed (ENOSPC): its CoW file is sealed "index only", which
    // only reload-incremental accepts.
    now.info.state = 3 | 8;
    now.info.error = ENOSPC;
    auto failed = reconcile(ok.next, loaded({now}));
    CHECK(failed.next.devices.at(0).mode == device_mode::incremental);
    CHECK(failed.next.devices.at(0).ignore_errors);
    REQUIRE(failed.changes.size() == 1);
    CHECK_THAT(failed.changes[0], Contains("snapshot -> incremental"));
}

TEST_CASE("reconcile: an unmounted device keeps its known CoW path", "[reconcile]") {
    state s;
    s.devices.push_back(sample_device(1, "U1"));
    SECTION("same CoW file (same chain and seqid): kept") {
        auto result = reconcile(s, loaded({seen(1, "U1", "/mnt/d/.bsnap1", 0)}));
        CHECK(result.next.devices.at(0).cow == ".bsnap1");
        CHECK(result.warnings.empty());
    }
    SECTION("a new CoW file that cannot be placed: unknown, with a warning") {
        observed_device now = seen(1, "U1", "/mnt/d/other", 1);
        now.info.seqid = 4;
        auto result = reconcile(s, loaded({now}));
        CHECK(result.next.devices.at(0).cow == std::nullopt);
        REQUIRE(result.warnings.size() == 1);
        CHECK_THAT(result.warnings[0], Contains("cannot be reloaded"));
    }
    SECTION("after a reload the module reports the relative path") {
        auto result = reconcile(s, loaded({seen(1, "U1", ".bsnap1", 4)}));
        CHECK(result.next.devices.at(0).cow == ".bsnap1");
    }
}

TEST_CASE("reconcile: devices that disappear", "[reconcile]") {
    state s;
    s.devices.push_back(sample_device(1, "U1")); // seen in boot-a/100
    s.devices.push_back(sample_device(2, "U2"));
    SECTION("gone in the same module instance: destroyed, removed") {
        auto result = reconcile(s, loaded({seen(2, "U2", ".bsnap2", 2)}));
        REQUIRE(result.next.devices.size() == 1);
        CHECK(result.next.devices[0].minor == 2);
        CHECK_THAT(result.changes.at(0), Contains("destroyed"));
    }
    SECTION("after a reboot or module reload: kept until reloaded") {
        auto result = reconcile(s, loaded({seen(2, "U2", ".bsnap2", 2)}, "boot-b/7"));
        REQUIRE(result.next.devices.size() == 2);
        CHECK(result.next.devices[0] == s.devices[0]);
        CHECK(result.next.devices[1].module_instance == "boot-b/7");
    }
    SECTION("the module not loaded: nothing changes") {
        auto result = reconcile(s, observation{});
        CHECK(result.next == s);
        CHECK(result.changes.empty());
    }
    SECTION("set up again on another minor: the old entry is dropped") {
        auto result = reconcile(
            s, loaded({seen(5, "U1", ".bsnap5", 2), seen(2, "U2", ".bsnap2", 2)}, "boot-b/7"));
        REQUIRE(result.next.devices.size() == 2);
        CHECK(result.next.devices[0].minor == 2);
        CHECK(result.next.devices[1].minor == 5);
    }
}

TEST_CASE("reconcile: a device without identity is not written", "[reconcile]") {
    observed_device anonymous = seen(3, "", "/mnt/x/cow", 2, {"/mnt/x"});
    auto result = reconcile(state{}, loaded({anonymous}));
    CHECK(result.next.devices.empty());
    REQUIRE(result.warnings.size() == 1);
    CHECK_THAT(result.warnings[0], Contains("no filesystem UUID or PARTUUID"));

    SECTION("a known one whose identity cannot be read now keeps it") {
        state s;
        s.devices.push_back(sample_device(3, "U3"));
        s.devices[0].device = anonymous.info.bdev_path;
        auto kept = reconcile(s, loaded({anonymous}));
        CHECK(kept.next.devices.at(0).identity.fs_uuid == "U3");
        CHECK(kept.next.devices.at(0).cow == "cow");
    }
}

TEST_CASE("reconcile: another device on a known minor replaces it", "[reconcile]") {
    state s;
    s.devices.push_back(sample_device(1, "OLD"));
    auto result = reconcile(s, loaded({seen(1, "NEW", "/m/c", 3, {"/m"})}));
    CHECK(result.next.devices.at(0).identity.fs_uuid == "NEW");
    CHECK(result.next.devices.at(0).cow == "c");
    CHECK_THAT(result.changes.at(0), Contains("now UUID=NEW"));
}
