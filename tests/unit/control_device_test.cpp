// The control device without the module: what can be checked on any machine.
#include <bsnap/control_device.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <vector>

using namespace bsnap;
using Catch::Matchers::Equals;

TEST_CASE("a missing control device means the module is not loaded", "[control]") {
    try {
        control_device device("/nonexistent/bsnap-ctl");
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == ENOENT);
        CHECK_THAT(e.what(), Equals("bsnap module not loaded (no /nonexistent/bsnap-ctl): No such "
                                    "file or directory"));
    }
    CHECK(std::string(control_device_path) == "/dev/bsnap-ctl");
}

TEST_CASE("ioctl errors carry the kernel's errno and the object", "[control]") {
    control_device device("/dev/null"); // opens, but knows none of bsnap's ioctls
    try {
        device.version();
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == ENOTTY);
        CHECK_THAT(e.what(), Equals("/dev/null: Inappropriate ioctl for device"));
    }
    try {
        device.destroy(3);
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == ENOTTY);
        CHECK_THAT(e.what(), Equals("minor 3: Inappropriate ioctl for device"));
    }
    setup_params params{"/dev/vda1", "/.cow", 4, 0, 0, true};
    CHECK_THROWS_WITH(device.setup_snapshot(params),
                      "minor 4 (/dev/vda1, cow /.cow): Inappropriate ioctl for device");
}

TEST_CASE("the ioctl numbers encode their struct sizes", "[control]") {
    CHECK(_IOC_SIZE(BSNAP_IOC_INFO) == sizeof(bsnap_info));
    CHECK(_IOC_SIZE(BSNAP_IOC_SETUP_SNAPSHOT) == sizeof(bsnap_setup));
    CHECK(_IOC_TYPE(BSNAP_IOC_VERSION) == BSNAP_IOCTL_MAGIC);
    CHECK(sizeof(bsnap_info) < (1u << _IOC_SIZEBITS));
}

TEST_CASE("group snapshot errors name the member or the group", "[control][group]") {
    bsnap::group_member setup{group_op::setup, 3, "/dev/vdc", "/mnt/c/.cow", 0, 0, false};
    bsnap::group_member transition{group_op::transition, 5, "", "/mnt/d/.cow2", 0, 0, false};
    CHECK(group_member_context(setup, 1) == "member 2 (/dev/vdc, minor 3, cow /mnt/c/.cow)");
    CHECK(group_member_context(transition, 0) == "member 1 (minor 5, cow /mnt/d/.cow2)");

    control_device device("/dev/null");
    std::vector<bsnap::group_member> members{setup, transition};
    try {
        device.snapshot_group(members);
        FAIL("no exception");
    } catch (const group_error& e) {
        // The call was refused as a whole: no member is at fault.
        CHECK(e.code().value() == ENOTTY);
        CHECK_FALSE(e.member());
        CHECK_THAT(e.what(), Equals("group of 2 (minors 3, 5): Inappropriate ioctl for device"));
    }
    try {
        device.snapshot_group({});
        FAIL("no exception");
    } catch (const group_error& e) {
        CHECK(e.code().value() == EINVAL);
        CHECK_THAT(e.what(), Equals("group of 0 devices: a group has 1 to 32: Invalid argument"));
    }
    std::vector<bsnap::group_member> too_many(BSNAP_MAX_GROUP + 1, setup);
    CHECK_THROWS_WITH(device.snapshot_group(too_many),
                      "group of 33 devices: a group has 1 to 32: Invalid argument");
    CHECK(_IOC_SIZE(BSNAP_IOC_SNAPSHOT_GROUP) == sizeof(bsnap_group_snapshot));
}
