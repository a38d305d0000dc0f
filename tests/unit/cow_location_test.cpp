// locate_cow_file: the module's CoW path, absolute after setup, relative to
// the filesystem's mount point after a reload. Directories under /tmp stand
// in for mount points, listed in a mounts file of our own.
#include "cow_test_files.hpp"

#include <bsnap/cow_location.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <sys/stat.h>

using namespace bsnap;
using namespace bsnap_test;
using Catch::Matchers::Contains;

namespace {

dev_t device_of(const std::string& path) {
    struct stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_dev;
}

} // namespace

TEST_CASE("a relative CoW path is found under the first mount point that holds it", "[cow]") {
    temp_directory dir;
    std::filesystem::create_directories(dir / "a");
    std::filesystem::create_directories(dir / "b/sub");
    std::filesystem::create_directories(dir / "with space");
    write_all(dir / "b/sub/cow", {'x'});
    write_all(dir / "with space/cow2", {'x'});
    std::filesystem::create_directories(dir / "b/dir/cow"); // a directory, not the file
    {
        std::ofstream mounts(dir / "mounts");
        mounts << "/dev/vdb " << dir / "a"
               << " ext4 rw 0 0\n"
               << "/dev/vdb " << dir / "b"
               << " ext4 rw 0 0\n"
               << "/dev/vdb " << dir.path.string() << "/with\\040space xfs rw 0 0\n";
    }
    dev_t dev = device_of(dir / "b");
    CHECK(find_under_mounts("sub/cow", dev, dir / "mounts") ==
          std::filesystem::path(dir / "b/sub/cow"));
    // Octal escapes of the mounts file are decoded.
    CHECK(find_under_mounts("cow2", dev, dir / "mounts") ==
          std::filesystem::path(dir / "with space/cow2"));
    CHECK_FALSE(find_under_mounts("dir/cow", dev, dir / "mounts"));
    CHECK_FALSE(find_under_mounts("missing", dev, dir / "mounts"));
    // The right name on another device is not the file.
    CHECK_FALSE(find_under_mounts("sub/cow", dev + 1, dir / "mounts"));
    CHECK_THROWS_AS(find_under_mounts("x", dev, dir / "no-mounts"), std::system_error);
}

TEST_CASE("an absolute CoW path is used as the module gives it", "[cow]") {
    device_info info;
    info.bdev_path = "/nonexistent/vdb";
    info.cow_path = "/mnt/x/.bsnap0";
    CHECK(locate_cow_file(info, "/nonexistent/mounts") == "/mnt/x/.bsnap0");
}

TEST_CASE("a relative CoW path of a device that is not a block device is refused", "[cow]") {
    temp_directory dir;
    write_all(dir / "notblk", {'x'});
    device_info info;
    info.bdev_path = dir / "notblk";
    info.cow_path = ".bsnap0";
    try {
        locate_cow_file(info, dir / "mounts");
        FAIL("located");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == ENOTBLK);
        CHECK_THAT(e.what(), Contains("CoW file .bsnap0 of " + dir / "notblk"));
    }
    info.bdev_path = dir / "missing";
    try {
        locate_cow_file(info, dir / "mounts");
        FAIL("located");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == ENOENT);
    }
}
