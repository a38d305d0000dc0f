// bsnapd's state keeper on files standing in for /proc/bsnap-info, the
// mount table, the boot id and /sys/module/bsnap: start, restart, corrupt
// file, destroyed and not-yet-reloaded devices, stale-state reports.
#include "daemon_test_support.hpp"
#include "state_keeper.hpp"

using namespace bsnap;
using namespace bsnap::daemon;
using namespace bsnap::daemon::test;

namespace {

struct fake_system {
    temp_dir dir;
    fake_resolver resolver;
    keeper_options options;

    fake_system() {
        options.state_file = dir / "lib" / "state.json";
        options.paths.proc_info = dir / "bsnap-info";
        options.paths.mountinfo = dir / "mountinfo";
        options.paths.boot_id = dir / "boot_id";
        options.paths.module_dir = dir / "module";
        options.stale_after = std::chrono::seconds(600);
        write_text(options.paths.mountinfo, "21 1 254:1 / / rw - ext4 /dev/vda1 rw\n");
        write_text(options.paths.boot_id, "boot-a\n");
        resolver.by_uuid = {{"U1", "/dev/vdb1"}, {"U2", "/dev/vdc1"}};
    }

    void module(const std::string& devices_json) {
        std::filesystem::create_directories(options.paths.module_dir);
        write_text(options.paths.proc_info,
                   R"({"version": "0.1.0", "abi_version": 1, "devices": [)" + devices_json + "]}");
    }
    void unload() {
        std::filesystem::remove(options.paths.proc_info);
        std::filesystem::remove_all(options.paths.module_dir);
    }
    state saved() { return *load_state(options.state_file); }
};

// An incremental device reloaded (relative CoW path), state bits given.
std::string device(unsigned minor, const std::string& bdev, int state_bits, int error = 0) {
    return R"({"minor": )" + std::to_string(minor) + R"(, "state": )" + std::to_string(state_bits) +
           R"(, "bdev": ")" + bdev + R"(", "cow": "bsnap/cow)" + std::to_string(minor) +
           R"(", "error": )" + std::to_string(error) +
           R"(, "seqid": 2, "uuid": "00112233-4455-6677-8899-aabbccddeeff"})";
}

} // namespace

TEST_CASE("keeper: first start writes what the module traces", "[keeper]") {
    fake_system sys;
    sys.module(device(1, "/dev/vdb1", 2) + "," + device(2, "/dev/vdc1", 4));
    log_capture log;
    state_keeper keeper(sys.options, sys.resolver);
    keeper.start();
    CHECK(log.has(priority::notice, "no state file"));
    state s = sys.saved();
    REQUIRE(s.devices.size() == 2);
    CHECK(s.devices[0].identity.fs_uuid == "U1");
    CHECK(s.devices[0].cow == "bsnap/cow1");
    CHECK(s.devices[1].identity.fs_uuid == "U2");
    CHECK(keeper.traced_count() == 2);

    SECTION("a restart (even after SIGKILL) starts from the same file and rewrites nothing") {
        auto before = std::filesystem::last_write_time(sys.options.state_file);
        std::string text = read_text(sys.options.state_file);
        state_keeper again(sys.options, sys.resolver);
        again.start();
        CHECK(again.current() == s);
        CHECK(read_text(sys.options.state_file) == text);
        CHECK(std::filesystem::last_write_time(sys.options.state_file) == before);
    }
    SECTION("destroyed in the same module instance: removed") {
        sys.module(device(2, "/dev/vdc1", 4));
        keeper.sync("event destroyed");
        CHECK(sys.saved().devices.size() == 1);
        CHECK(log.has(priority::notice, "destroyed"));
    }
    SECTION("module unloaded: the file keeps every device") {
        sys.unload();
        keeper.sync("module remove");
        CHECK(sys.saved() == s);
    }
    SECTION("after a reboot, a device not reloaded is kept and reported") {
        write_text(sys.options.paths.boot_id, "boot-b\n");
        sys.module(device(2, "/dev/vdc1", 4));
        state_keeper after_boot(sys.options, sys.resolver);
        after_boot.start();
        CHECK(sys.saved().devices.size() == 2);
        CHECK(log.has(priority::err, "minor 1 (UUID=U1, last seen as /dev/vdb1): in the state "
                                     "file but not traced by the module"));
    }
    SECTION("a failed device is logged with its errno") {
        sys.module(device(1, "/dev/vdb1", 2 | 8, 28) + "," + device(2, "/dev/vdc1", 4));
        keeper.sync("event failed");
        CHECK(log.has(priority::err, "FAILED: No space left on device (errno 28)"));
    }
}

TEST_CASE("keeper: a corrupt state file is replaced by the module's view", "[keeper]") {
    fake_system sys;
    std::filesystem::create_directories(sys.options.state_file.parent_path());
    write_text(sys.options.state_file, "{\"format\": \"bsnapd-state\", \"version\": 1, \"devi");
    sys.module(device(1, "/dev/vdb1", 2));
    log_capture log;
    state_keeper keeper(sys.options, sys.resolver);
    keeper.start();
    CHECK(log.has(priority::err, "STATE FILE UNUSABLE"));
    int aside = 0;
    for (const auto& e : std::filesystem::directory_iterator(sys.options.state_file.parent_path()))
        aside += e.path().filename().string().starts_with("state.json.corrupt-");
    CHECK(aside == 1);
    CHECK(sys.saved().devices.size() == 1);
}

TEST_CASE("keeper: unverified or dormant for too long is reported once", "[keeper]") {
    fake_system sys;
    sys.module(device(1, "/dev/vdb1", 0) + "," + device(2, "/dev/vdc1", 4) + "," +
               R"({"minor": 3, "state": 2, "bdev": "/dev/vdb1", "cow": "c", "seqid": 1})");
    sys.resolver.by_uuid["U3"] = "/dev/vdd1";
    log_capture log;
    state_keeper keeper(sys.options, sys.resolver);
    keeper.start();
    auto now = state_keeper::clock::now();
    keeper.check_stale(now + std::chrono::seconds(599));
    CHECK(!log.has(priority::warning, "dormant for"));
    keeper.check_stale(now + std::chrono::seconds(700));
    CHECK(log.has(priority::warning, "minor 1 (UUID=U1, last seen as /dev/vdb1): dormant for"));
    CHECK(log.has(priority::warning, "minor 2 (UUID=U2, last seen as /dev/vdc1): unverified for"));
    CHECK(!log.has(priority::warning, "minor 3"));
    auto count = log.lines.size();
    keeper.check_stale(now + std::chrono::seconds(2000));
    CHECK(log.lines.size() == count);
}
