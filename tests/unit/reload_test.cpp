// bsnapd --reload: which devices are reloaded with which command, and what a
// refusal tells the user; and bsnapd's command line.
#include "daemon_test_support.hpp"
#include "options.hpp"
#include "reload.hpp"

#include <cerrno>
#include <cstdlib>
#include <fstream>

using namespace bsnap;
using namespace bsnap::daemon;
using namespace bsnap::daemon::test;
using Catch::Matchers::Contains;

namespace {

struct fixture {
    fake_resolver resolver;
    state s;
    fixture() {
        s.devices.push_back(sample_device(0, "ROOT", true));
        s.devices.push_back(sample_device(1, "U1"));
        traced_device snap = sample_device(2, "");
        snap.identity.partuuid = "P2";
        snap.mode = device_mode::snapshot;
        snap.cow = "backup/cow2";
        snap.cache_size = 1 << 20;
        snap.ignore_errors = true;
        s.devices.push_back(snap);
        resolver.by_uuid = {{"ROOT", "/dev/vda1"}, {"U1", "/dev/vdc1"}};
        resolver.by_partuuid = {{"P2", "/dev/vdb2"}};
    }
};

const reload_skip* skip_of(const reload_plan& plan, unsigned minor) {
    for (const auto& skip : plan.skipped)
        if (skip.entry.minor == minor)
            return &skip;
    return nullptr;
}

} // namespace

TEST_CASE("reload plan: every device but root, with its mode's command", "[reload]") {
    fixture f;
    reload_plan plan = plan_reload(f.s, reload_scope::all_but_root, f.resolver, {});
    REQUIRE(plan.actions.size() == 2);
    CHECK(plan.actions[0].entry.minor == 1);
    CHECK(!plan.actions[0].snapshot);
    CHECK(plan.actions[0].params.bdev == "/dev/vdc1"); // resolved now, not the stored name
    CHECK(plan.actions[0].params.cow == ".bsnap1");
    CHECK(plan.actions[0].params.minor == 1);
    CHECK(plan.actions[1].snapshot);
    CHECK(plan.actions[1].params.bdev == "/dev/vdb2");
    CHECK(plan.actions[1].params.cow == "backup/cow2");
    CHECK(plan.actions[1].params.cache_size == 1 << 20);
    CHECK(plan.actions[1].params.ignore_errors); // -i survives the reboot
    CHECK(!plan.actions[0].params.ignore_errors);
    REQUIRE(plan.skipped.size() == 1);
    CHECK(plan.skipped[0].entry.minor == 0);
    CHECK(!plan.skipped[0].problem);
    CHECK_THAT(plan.skipped[0].reason, Contains("initramfs"));
}

TEST_CASE("reload plan: root only, for the initramfs", "[reload]") {
    fixture f;
    reload_plan plan = plan_reload(f.s, reload_scope::root_only, f.resolver, {});
    REQUIRE(plan.actions.size() == 1);
    CHECK(plan.actions[0].entry.minor == 0);
    CHECK(plan.actions[0].params.bdev == "/dev/vda1");
    CHECK(plan.skipped.empty());
}

TEST_CASE("reload plan: devices that cannot be reloaded", "[reload]") {
    fixture f;
    SECTION("no device has the identity") {
        f.resolver.by_uuid.erase("U1");
        reload_plan plan = plan_reload(f.s, reload_scope::all_but_root, f.resolver, {});
        CHECK(plan.actions.size() == 1);
        const reload_skip* skip = skip_of(plan, 1);
        REQUIRE(skip);
        CHECK(skip->problem);
        CHECK(skip->device_missing);
        CHECK_THAT(skip->reason, Contains("no device with UUID=U1"));
    }
    SECTION("the CoW path is unknown") {
        f.s.devices[1].cow.reset();
        reload_plan plan = plan_reload(f.s, reload_scope::all_but_root, f.resolver, {});
        const reload_skip* skip = skip_of(plan, 1);
        REQUIRE(skip);
        CHECK(skip->problem);
        CHECK_THAT(skip->reason, Contains("full backup"));
    }
    SECTION("the identity is ambiguous") {
        f.s.devices[1].identity.partuuid = "P2"; // UUID says vdc1, PARTUUID vdb2
        reload_plan plan = plan_reload(f.s, reload_scope::all_but_root, f.resolver, {});
        const reload_skip* skip = skip_of(plan, 1);
        REQUIRE(skip);
        CHECK(skip->problem);
        CHECK(!skip->device_missing);
    }
    SECTION("already traced: skipped quietly; the minor taken by another: a problem") {
        device_info same;
        same.minor = 1;
        same.bdev_path = "/dev/vdc1";
        device_info other;
        other.minor = 2;
        other.bdev_path = "/dev/vdz";
        reload_plan plan = plan_reload(f.s, reload_scope::all_but_root, f.resolver, {same, other});
        CHECK(plan.actions.empty());
        CHECK(!skip_of(plan, 1)->problem);
        CHECK(skip_of(plan, 2)->problem);
        CHECK_THAT(skip_of(plan, 2)->reason, Contains("taken by /dev/vdz"));
    }
}

TEST_CASE("reload run: every action, failures explained", "[reload]") {
    fixture f;
    reload_plan plan = plan_reload(f.s, reload_scope::all_but_root, f.resolver, {});
    std::vector<unsigned> called;
    auto outcomes = run_reload(plan, [&called](const reload_action& a) {
        called.push_back(a.params.minor);
        if (a.params.minor == 1)
            return EUCLEAN; // the CoW file check after the ioctl
        return 0;
    });
    CHECK(called == std::vector<unsigned>{1, 2}); // a failure does not stop the others
    REQUIRE(outcomes.size() == 2);
    CHECK(outcomes[0].error == EUCLEAN);
    CHECK_THAT(outcomes[0].message, Contains("reload-incremental /dev/vdc1 .bsnap1"));
    CHECK_THAT(outcomes[0].message, Contains("cannot say what changed"));
    CHECK_THAT(outcomes[0].message, Contains("marked broken"));
    CHECK_THAT(outcomes[0].message, Contains("full backup"));
    CHECK(outcomes[1].error == 0);
    CHECK_THAT(outcomes[1].message, Contains("reload-snapshot /dev/vdb2 backup/cow2: reloaded"));

    SECTION("an ioctl that throws gives its errno") {
        auto thrown = run_reload(plan, [](const reload_action&) -> int {
            throw std::system_error(EBUSY, std::generic_category(), "minor 1");
        });
        CHECK(thrown[0].error == EBUSY);
        CHECK_THAT(thrown[0].message, Contains("already mounted"));
    }
}

namespace {

// The module's answers: EUCLEAN for reload-snapshot of minor 2 (a snapshot
// in use at a crash), incremental_error for its reload-incremental.
struct crashed_snapshot {
    int incremental_error = 0;
    std::vector<std::string> calls; // "1 incremental", "2 snapshot", "destroy 2", ...
    std::function<void(unsigned)> on_destroy;

    reload_call call() {
        return [this](const reload_action& a) {
            calls.push_back(std::to_string(a.params.minor) +
                            (a.snapshot ? " snapshot" : " incremental"));
            if (a.params.minor != 2)
                return 0;
            return a.snapshot ? EUCLEAN : incremental_error;
        };
    }
    destroy_call destroy() {
        return [this](unsigned minor) {
            calls.push_back("destroy " + std::to_string(minor));
            if (on_destroy)
                on_destroy(minor);
        };
    }
};

} // namespace

TEST_CASE("reload run: a snapshot lost in a crash is reloaded incremental", "[reload]") {
    fixture f;
    reload_plan plan = plan_reload(f.s, reload_scope::all_but_root, f.resolver, {});
    crashed_snapshot module;
    auto outcomes = run_reload(plan, module.call(), module.destroy());
    CHECK(module.calls ==
          std::vector<std::string>{"1 incremental", "2 snapshot", "destroy 2", "2 incremental"});
    REQUIRE(outcomes.size() == 2);
    CHECK(outcomes[0].error == 0);
    CHECK_FALSE(outcomes[0].snapshot_lost);
    CHECK(outcomes[1].error == 0);
    CHECK(outcomes[1].snapshot_lost);
    CHECK_FALSE(outcomes[1].action.snapshot);
    CHECK(outcomes[1].action.params.cow == "backup/cow2");
    CHECK(outcomes[1].action.params.ignore_errors); // the same parameters otherwise
    CHECK_THAT(outcomes[1].message, Contains("reload-snapshot /dev/vdb2 backup/cow2: refused"));
    CHECK_THAT(outcomes[1].message, Contains("in use at a crash and is lost"));
    CHECK_THAT(outcomes[1].message,
               Contains("reload-incremental /dev/vdb2 backup/cow2: reloaded, unverified"));
    CHECK_THAT(outcomes[1].message, Contains("give update-img the CoW files"));
}

TEST_CASE("reload run: a lost snapshot whose chain broke is refused again", "[reload]") {
    fixture f;
    reload_plan plan = plan_reload(f.s, reload_scope::all_but_root, f.resolver, {});
    crashed_snapshot module;
    module.incremental_error = EUCLEAN; // BROKEN: neither reload takes it
    auto outcomes = run_reload(plan, module.call(), module.destroy());
    REQUIRE(outcomes.size() == 2);
    CHECK(outcomes[1].error == EUCLEAN);
    CHECK_FALSE(outcomes[1].snapshot_lost);
    CHECK_THAT(outcomes[1].message, Contains("reload-incremental /dev/vdb2 backup/cow2: failed"));
    CHECK_THAT(outcomes[1].message, Contains("cannot say what changed"));
    CHECK_THAT(outcomes[1].message, Contains("destroy minor 2"));
    CHECK_THAT(outcomes[1].message, Contains("full backup"));
}

TEST_CASE("reload run: when a refused snapshot is not reloaded incremental", "[reload]") {
    fixture f;
    reload_plan plan = plan_reload(f.s, reload_scope::all_but_root, f.resolver, {});
    crashed_snapshot module;
    SECTION("no destroy given: the refusal is explained") {
        auto outcomes = run_reload(plan, module.call());
        CHECK(module.calls == std::vector<std::string>{"1 incremental", "2 snapshot"});
        CHECK(outcomes[1].error == EUCLEAN);
        CHECK_THAT(outcomes[1].message, Contains("in use at a crash and is lost (destroy minor 2 "
                                                 "and reload-incremental its CoW file"));
    }
    SECTION("destroy fails") {
        module.on_destroy = [](unsigned minor) {
            throw std::system_error(EBUSY, std::generic_category(),
                                    "minor " + std::to_string(minor));
        };
        auto outcomes = run_reload(plan, module.call(), module.destroy());
        CHECK(module.calls == std::vector<std::string>{"1 incremental", "2 snapshot", "destroy 2"});
        CHECK(outcomes[1].error == EBUSY);
        CHECK_FALSE(outcomes[1].snapshot_lost);
    }
    SECTION("nothing registered to destroy: reloaded all the same") {
        module.on_destroy = [](unsigned) {
            throw std::system_error(ENOENT, std::generic_category(), "minor 2");
        };
        auto outcomes = run_reload(plan, module.call(), module.destroy());
        CHECK(module.calls.back() == "2 incremental");
        CHECK(outcomes[1].error == 0);
        CHECK(outcomes[1].snapshot_lost);
    }
    SECTION("another refusal of the snapshot, or EUCLEAN of an incremental") {
        auto outcomes = run_reload(
            plan,
            [](const reload_action& a) {
                return a.snapshot ? EINVAL : EUCLEAN; // a failed snapshot; a broken chain
            },
            module.destroy());
        CHECK(module.calls.empty()); // nothing destroyed
        CHECK(outcomes[0].error == EUCLEAN);
        CHECK(outcomes[1].error == EINVAL);
    }
}

TEST_CASE("reload errors: what each errno means", "[reload]") {
    traced_device d = sample_device(4, "U4");
    CHECK_THAT(explain_reload_error(EUCLEAN, d), Contains("crash"));
    CHECK_THAT(explain_reload_error(EUCLEAN, d), Contains("cannot say what changed"));
    d.mode = device_mode::snapshot;
    CHECK_THAT(explain_reload_error(EUCLEAN, d), Contains("snapshot was in use at a crash"));
    d.mode = device_mode::incremental;
    CHECK_THAT(explain_reload_error(ESTALE, d), Contains("superseded"));
    CHECK_THAT(explain_reload_error(EBADMSG, d), Contains("damaged"));
    CHECK_THAT(explain_reload_error(ENOENT, d), Contains(".bsnap4"));
    for (int e : {EUCLEAN, ESTALE, EBADMSG, ENOENT})
        CHECK_THAT(explain_reload_error(e, d), Contains("destroy minor 4"));
}

TEST_CASE("bsnapd command line", "[reload]") {
    options o = parse_options({}, nullptr);
    CHECK(o.mode == run_mode::daemon);
    CHECK(o.state_file == "/var/lib/bsnap/state.json");
    CHECK(o.interval == std::chrono::seconds(60));
    CHECK(parse_options({}, "/tmp/s.json").state_file == "/tmp/s.json");
    CHECK(parse_options({"--state-file", "/x"}, "/tmp/s.json").state_file == "/x");
    CHECK(parse_options({"--reload"}, nullptr).mode == run_mode::reload);
    o = parse_options({"--reload-root", "--wait", "5", "--no-modprobe"}, nullptr);
    CHECK(o.mode == run_mode::reload_root);
    CHECK(o.wait == std::chrono::seconds(5));
    CHECK(!o.modprobe);
    CHECK(parse_options({"--stale-after", "30"}, nullptr).stale_after == std::chrono::seconds(30));
    CHECK_THROWS_AS(parse_options({"--reload", "--reload-root"}, nullptr), usage_error);
    CHECK_THROWS_AS(parse_options({"--interval", "0"}, nullptr), usage_error);
    CHECK_THROWS_AS(parse_options({"--bogus"}, nullptr), usage_error);
    CHECK_THROWS_AS(parse_options({"--rel"}, nullptr), usage_error); // no guessing
}

TEST_CASE("blkid resolver: identity of a filesystem image", "[reload]") {
    if (std::system("command -v mkfs.ext4 >/dev/null 2>&1") != 0) {
        WARN("mkfs.ext4 not found: blkid resolver not tested");
        return;
    }
    temp_dir dir;
    auto image = dir / "fs.img";
    { std::ofstream out(image); }
    std::filesystem::resize_file(image, 8 << 20);
    std::string uuid = "2b6f1a3c-9d4e-4f10-8a7b-0c1d2e3f4a5b";
    std::string command = "mkfs.ext4 -q -F -U " + uuid + " " + image.string() + " >/dev/null 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);
    auto resolver = make_blkid_resolver();
    device_identity id = resolver->identify(image.string());
    CHECK(id.fs_uuid == uuid);
    CHECK(id.partuuid.empty());
    CHECK(to_string(id) == "UUID=" + uuid);
    // No device has this identity (a regular file is not found by tag).
    CHECK(resolver->resolve(device_identity{"00000000-1111-2222-3333-444444444444", ""}) ==
          std::nullopt);
    CHECK_THROWS_AS(resolver->identify((dir / "none").string()), std::system_error);
}
