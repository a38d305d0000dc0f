// The parts of CoW file growth that need no module: FIEMAP and GETFSMAP
// records to free_ranges' inputs, the mount flags per filesystem, the line
// bsnapctl prints; and, where the machine allows it, FIEMAP and GETFSMAP on
// a real file of the filesystem holding /tmp.
#include "cow_test_files.hpp"

#include <bsnap/cow_growth.hpp>
#include <bsnap/detached_mount.hpp>
#include <bsnap/file_extents.hpp>
#include <bsnap/space_map.hpp>
#include <bsnap/unique_fd.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fsmap.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

using namespace bsnap;
using namespace bsnap_test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

fiemap_extent fe(std::uint64_t logical, std::uint64_t physical, std::uint64_t length,
                 std::uint32_t flags) {
    fiemap_extent e{};
    e.fe_logical = logical;
    e.fe_physical = physical;
    e.fe_length = length;
    e.fe_flags = flags;
    return e;
}

fsmap rec(std::uint32_t device, std::uint64_t physical, std::uint64_t length, std::uint64_t owner,
          std::uint32_t flags = 0) {
    fsmap r{};
    r.fmr_device = device;
    r.fmr_physical = physical;
    r.fmr_length = length;
    r.fmr_owner = owner;
    r.fmr_flags = flags;
    return r;
}

// errno of a system_error thrown by f, 0 if none.
template <typename F>
int error_of(F f) {
    try {
        f();
    } catch (const std::system_error& e) {
        return e.code().value();
    }
    return 0;
}

} // namespace

TEST_CASE("fsmap device numbers are the kernel's new_encode_dev", "[growth]") {
    CHECK(fsmap_device(makedev(8, 1)) == 0x801);
    CHECK(fsmap_device(makedev(253, 0)) == 0xfd00);
    // Minors past 255 go to bits 20 and up.
    CHECK(fsmap_device(makedev(259, 0x12345)) == (0x45u | (259u << 8) | (0x12300u << 12)));
    // For small numbers, the low 32 bits of glibc's dev_t.
    dev_t d = makedev(252, 300);
    CHECK(fsmap_device(d) == static_cast<std::uint32_t>(d));
}

TEST_CASE("fsmap records: free or in use, other devices and empty ones dropped", "[growth]") {
    const std::uint32_t dev = 0xfd00;
    CHECK(to_space_record(rec(dev, 4096, 8192, FMR_OWN_FREE), dev) ==
          space_record{4096, 8192, true});
    CHECK(to_space_record(rec(dev, 4096, 8192, 12 /* an inode */), dev) ==
          space_record{4096, 8192, false});
    CHECK(to_space_record(rec(dev, 0, 4096, FMR_OWN_UNKNOWN, FMR_OF_SPECIAL_OWNER), dev) ==
          space_record{0, 4096, false});
    CHECK(to_space_record(rec(dev, 0, 4096, FMR_OWN_METADATA, FMR_OF_SPECIAL_OWNER | FMR_OF_LAST),
                          dev) == space_record{0, 4096, false});
    CHECK(to_space_record(rec(dev, 0, 4096, FMR_OWNER('X', 4) /* xfs log */, FMR_OF_SPECIAL_OWNER),
                          dev)
              ->free == false);
    // An external journal's free space says nothing about the image's.
    CHECK_FALSE(to_space_record(rec(0x810, 4096, 8192, FMR_OWN_FREE), dev));
    CHECK_FALSE(to_space_record(rec(dev, 4096, 0, FMR_OWN_FREE), dev));
}

TEST_CASE("fiemap extents that are not the file's own blocks are left out", "[growth]") {
    std::string why;
    CHECK(usable_extent(fe(0, 1 * MiB, 64 * 1024, 0), &why) == file_extent{0, 1 * MiB, 64 * 1024});
    // Unwritten (fallocated), merged and last are fine.
    CHECK(usable_extent(fe(4096, 8192, 4096,
                           FIEMAP_EXTENT_UNWRITTEN | FIEMAP_EXTENT_MERGED | FIEMAP_EXTENT_LAST),
                        &why) == file_extent{4096, 8192, 4096});
    struct bad {
        std::uint32_t flags;
        const char* why;
    };
    for (bad b :
         {bad{FIEMAP_EXTENT_UNKNOWN, "location unknown"},
          bad{FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_UNKNOWN, "location unknown"},
          bad{FIEMAP_EXTENT_DELALLOC, "delayed allocation (no blocks yet)"},
          bad{FIEMAP_EXTENT_ENCODED, "encoded"},
          bad{FIEMAP_EXTENT_DATA_ENCRYPTED | FIEMAP_EXTENT_ENCODED, "encrypted"},
          bad{FIEMAP_EXTENT_NOT_ALIGNED, "not block aligned"},
          bad{FIEMAP_EXTENT_DATA_INLINE | FIEMAP_EXTENT_NOT_ALIGNED, "inline data"},
          bad{FIEMAP_EXTENT_DATA_TAIL | FIEMAP_EXTENT_NOT_ALIGNED, "tail packed with other files"},
          bad{FIEMAP_EXTENT_SHARED | FIEMAP_EXTENT_LAST, "shared with another file"}}) {
        INFO("flags " << b.flags);
        why.clear();
        CHECK_FALSE(usable_extent(fe(0, 4096, 4096, b.flags), &why));
        CHECK(why == b.why);
    }
}

TEST_CASE("only ext4 and xfs are mounted, each without log recovery", "[growth]") {
    CHECK(read_only_mount_flags("ext4", "/dev/bsnap0") == std::vector<std::string>{"noload"});
    CHECK(read_only_mount_flags("xfs", "/dev/bsnap0") ==
          std::vector<std::string>{"norecovery", "nouuid"});
    for (const char* other : {"btrfs", "ext3", "vfat", ""}) {
        try {
            read_only_mount_flags(other, "/dev/bsnap2");
            FAIL("accepted " << other);
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == ENOTSUP);
            CHECK_THAT(e.what(), StartsWith("/dev/bsnap2: CoW file growth is not supported on "));
            CHECK_THAT(e.what(), Contains("ext4 or xfs"));
        }
    }
    CHECK_THROWS_WITH(read_only_mount_flags("btrfs", "/dev/bsnap2"),
                      Contains("on a btrfs filesystem"));
    CHECK_THROWS_WITH(read_only_mount_flags("", "/dev/bsnap2"),
                      Contains("on an unknown filesystem"));
}

TEST_CASE("the growth line names what was added, usable and free", "[growth]") {
    cow_growth_result r;
    r.grown_bytes = 64 * MiB;
    r.file_size = 192 * MiB;
    r.grown_off = 128 * MiB;
    r.usable_bytes = 60 * MiB;
    r.free_bytes = 70 * MiB;
    CHECK(describe(r, 0) == "bsnap0: CoW file grown by 64 MiB to 192 MiB; 60 MiB of it usable "
                            "(free in the snapshot), 70 MiB free for CoW data");
    r.free_bytes.reset(); // nothing was free: the module was not asked
    r.usable_bytes = 0;
    CHECK(describe(r, 12) == "bsnap12: CoW file grown by 64 MiB to 192 MiB; 0 B of it usable "
                             "(free in the snapshot)");
    cow_growth_result again;
    again.file_size = 192 * MiB;
    again.grown_off = 64 * MiB;
    again.usable_bytes = 100 * MiB;
    again.free_bytes = 110 * MiB;
    CHECK(describe(again, 3) == "bsnap3: CoW file not grown (192 MiB, 128 MiB added since the "
                                "snapshot); 100 MiB more usable (free in the snapshot), 110 MiB "
                                "free for CoW data");
}

TEST_CASE("filesystem types come from the superblock", "[growth]") {
    temp_directory dir;
    write_all(dir / "zeros", std::vector<char>(1 << 20, 0));
    CHECK(probe_filesystem_type(dir / "zeros").empty());
    CHECK(error_of([&] { probe_filesystem_type(dir / "missing"); }) == ENOENT);
    if (std::system("command -v mkfs.ext4 >/dev/null 2>&1") != 0) {
        WARN("mkfs.ext4 not found: ext4 probe not tested");
        return;
    }
    std::filesystem::resize_file(dir / "zeros", 16 << 20);
    REQUIRE(std::system(("mkfs.ext4 -q -F " + dir / "zeros" + " >/dev/null 2>&1").c_str()) == 0);
    CHECK(probe_filesystem_type(dir / "zeros") == "ext4");
}

TEST_CASE("a detached mount of a regular file fails with the kernel's words", "[growth]") {
    temp_directory dir;
    write_all(dir / "file", std::vector<char>(4096, 0));
    try {
        detached_mount m(dir / "file", "ext4");
        FAIL("mounted a regular file");
    } catch (const std::system_error& e) {
        if (e.code().value() == EPERM || e.code().value() == ENOSYS) {
            WARN("no new mount API here (" << e.what() << "): detached mount not tested");
            return;
        }
        // ext4 wants a block device: ENOTBLK, and it says why.
        CHECK(e.code().value() == ENOTBLK);
        CHECK_THAT(e.what(), StartsWith("mount " + dir / "file" + " (ext4): create"));
    }
    CHECK(error_of([&] { detached_mount(dir / "file", "vfat"); }) == ENOTSUP);
}

TEST_CASE("FIEMAP and GETFSMAP of a fallocated file: its blocks are in use", "[growth]") {
    // A real file on the filesystem of /tmp: what FIEMAP says of it, and
    // that the live filesystem reports its blocks in use, so none of it is
    // "free" (the same computation cow growth makes against the image).
    temp_directory dir;
    const std::string path = dir / "file";
    unique_fd fd = open_fd(path, O_RDWR | O_CREAT, 0600);
    if (::posix_fallocate(fd.get(), 0, 8 * MiB) != 0) {
        WARN("fallocate unsupported here: FIEMAP not tested");
        return;
    }
    file_extent_map map;
    try {
        map = read_file_extents(fd.get(), 1 * MiB, 5 * MiB, path);
    } catch (const std::system_error& e) {
        WARN("FIEMAP unsupported here (" << e.what() << ")");
        return;
    }
    REQUIRE_FALSE(map.extents.empty());
    CHECK(map.skipped.empty());
    CHECK(map.extents.front().logical <= 1 * MiB);
    std::uint64_t covered = 0;
    for (const file_extent& e : map.extents)
        covered += std::min(e.logical + e.length, 5 * MiB) - std::max(e.logical, 1 * MiB);
    CHECK(covered == 4 * MiB);

    struct stat st;
    REQUIRE(::fstat(fd.get(), &st) == 0);
    std::uint32_t device = fsmap_device(st.st_dev);
    std::vector<space_record> records;
    try {
        for (const file_extent& e : map.extents) {
            auto part = read_space_map(fd.get(), device, e.physical, e.physical + e.length, path);
            records.insert(records.end(), part.begin(), part.end());
        }
    } catch (const std::system_error& e) {
        WARN("GETFSMAP unsupported here (" << e.what() << ")");
        return;
    }
    CHECK_FALSE(records.empty());
    free_file_ranges found = find_free_file_ranges(map.extents, records, {1 * MiB, 4 * MiB}, 1000);
    CHECK(found.ranges.empty());
    // And the records do cover the file's blocks, as in use.
    std::uint64_t used = 0;
    for (const file_extent& e : map.extents)
        for (const space_record& r : records)
            if (!r.free) {
                std::uint64_t lo = std::max(r.physical, e.physical);
                std::uint64_t hi = std::min(r.physical + r.length, e.physical + e.length);
                used += hi > lo ? hi - lo : 0;
            }
    CHECK(used >= 4 * MiB);
}
