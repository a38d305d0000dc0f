#include "allocation_probe.hpp"
#include "cow_test_files.hpp"
#include "snapshot_device.hpp"
#include "update_img.hpp"

#include <bsnap/cow_file_reader.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <fcntl.h>
#include <random>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

using namespace bsnap;
using namespace bsnap::upd;
using namespace bsnap_test;
using Catch::Matchers::Contains;

namespace {

constexpr std::uint64_t block = 4096;
// 130 full blocks and a last one of 1 KiB.
constexpr std::uint64_t device_sectors = 130 * 8 + 2;
constexpr std::uint64_t device_bytes = device_sectors * 512;

std::vector<char> random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 random(seed);
    std::vector<char> bytes(n);
    for (char& c : bytes)
        c = static_cast<char>(random());
    return bytes;
}

// A snapshot (a regular file standing in for /dev/bsnapN), an image holding
// other bytes, and the previous snapshot's CoW file.
struct fixture {
    temp_directory dir;
    std::string snapshot = dir / "snapshot";
    std::string image = dir / "image";
    std::string cow = dir / "cow";
    std::vector<char> snapshot_bytes = random_bytes(device_bytes, 1);
    std::vector<char> image_bytes = random_bytes(device_bytes, 2);
    snapshot_identity identity{"snapshot " + snapshot, test_uuid, 2, 0, std::nullopt};
    int lookups = 0;

    fixture(const std::vector<std::uint64_t>& changed = {0, 1, 2, 7, 8, 63, 64, 65, 100, 130}) {
        write_all(snapshot, snapshot_bytes);
        write_all(image, image_bytes);
        cow_builder(device_sectors, changed).write(cow); // seqid 1
    }

    snapshot_lookup lookup() {
        return [this](const std::string& path, const struct stat& st) {
            CHECK(path == snapshot);
            CHECK(S_ISREG(st.st_mode));
            ++lookups;
            return identity;
        };
    }

    update_params params(std::uint64_t max_io = 4 * 1024 * 1024) const {
        return {snapshot, {cow}, image, max_io};
    }

    // The image expected after copying these blocks from the snapshot.
    std::vector<char> expected(const std::vector<std::uint64_t>& changed) const {
        std::vector<char> bytes = image_bytes;
        for (std::uint64_t b : changed) {
            std::uint64_t end = std::min(device_bytes, (b + 1) * block);
            std::copy(snapshot_bytes.begin() + static_cast<std::ptrdiff_t>(b * block),
                      snapshot_bytes.begin() + static_cast<std::ptrdiff_t>(end),
                      bytes.begin() + static_cast<std::ptrdiff_t>(b * block));
        }
        return bytes;
    }

    // The errno update_image fails with; the image must be untouched.
    int refused(std::string* message = nullptr) {
        int err = 0;
        try {
            update_image(params(), lookup());
            FAIL("update_image succeeded");
        } catch (const std::system_error& e) {
            err = e.code().value();
            if (message)
                *message = e.what();
        }
        CHECK(difference(read_all(image), image_bytes) == "");
        return err;
    }
};

} // namespace

TEST_CASE("update-img copies exactly the changed blocks, the last one partial", "[update-img]") {
    std::vector<std::uint64_t> changed = {0, 1, 2, 7, 8, 63, 64, 65, 100, 130};
    // 8 KiB I/Os split the runs; 4 MiB ones take each run whole.
    for (std::uint64_t max_io : {block, 2 * block, 3 * block, 4 * 1024 * 1024ul}) {
        INFO("max_io " << max_io);
        fixture fx(changed);
        std::vector<copy_progress> calls;
        update_result result =
            update_image(fx.params(max_io), fx.lookup(),
                         [&calls](const copy_progress& p) { calls.push_back(p); });
        CHECK(difference(read_all(fx.image), fx.expected(changed)) == "");
        CHECK(result.blocks == changed.size());
        CHECK(result.bytes == (changed.size() - 1) * block + 1024);
        CHECK(fx.lookups == 2); // before the copy, and after it for a failure
        REQUIRE_FALSE(calls.empty());
        CHECK(calls.back().blocks_done == changed.size());
        CHECK(calls.back().blocks_total == changed.size());
        CHECK(calls.back().bytes_done == result.bytes);
        CHECK(calls.back().bytes_total == result.bytes);
        if (max_io == block)
            CHECK(calls.size() == changed.size() + 1);
    }
}

TEST_CASE("update-img copies long runs in several I/Os", "[update-img]") {
    std::vector<std::uint64_t> changed;
    for (std::uint64_t b = 3; b < 131; ++b)
        if (b < 60 || b > 70)
            changed.push_back(b);
    fixture fx(changed);
    update_result result = update_image(fx.params(5 * block), fx.lookup());
    CHECK(difference(read_all(fx.image), fx.expected(changed)) == "");
    CHECK(result.blocks == changed.size());
}

TEST_CASE("update-img with no changed block leaves the image as it was", "[update-img]") {
    fixture fx(std::vector<std::uint64_t>{});
    update_result result = update_image(fx.params(), fx.lookup());
    CHECK(result.blocks == 0);
    CHECK(result.bytes == 0);
    CHECK(difference(read_all(fx.image), fx.image_bytes) == "");
}

TEST_CASE("update-img refuses another chain without writing", "[update-img]") {
    fixture fx;
    fx.identity.uuid[15] ^= 1;
    std::string message;
    CHECK(fx.refused(&message) == EINVAL);
    CHECK_THAT(message, Contains("different chain: CoW file " + fx.cow +
                                 " belongs to chain 10325476-98ba-dcfe-0123-456789abcdef, "
                                 "snapshot " +
                                 fx.snapshot + " to 10325476-98ba-dcfe-0123-456789abcdee"));
}

TEST_CASE("update-img refuses a CoW file out of order without writing", "[update-img]") {
    for (std::uint64_t seqid : {0, 1, 3, 10}) {
        INFO("snapshot seqid " << seqid);
        fixture fx;
        fx.identity.seqid = seqid;
        std::string message;
        CHECK(fx.refused(&message) == EINVAL);
        CHECK_THAT(message, Contains("wrong order: CoW file " + fx.cow + " is seqid 1, snapshot " +
                                     fx.snapshot + " is seqid " + std::to_string(seqid) +
                                     "; apply the incrementals in order"));
    }
}

TEST_CASE("update-img refuses a failed snapshot without writing", "[update-img]") {
    fixture fx;
    fx.identity.error = EIO;
    std::string message;
    CHECK(fx.refused(&message) == EIO);
    CHECK_THAT(message, Contains("has failed"));
}

TEST_CASE("update-img refuses size mismatches without writing", "[update-img]") {
    SECTION("image larger than the snapshot") {
        fixture fx;
        fx.image_bytes.resize(device_bytes + 512, 'x');
        write_all(fx.image, fx.image_bytes);
        std::string message;
        CHECK(fx.refused(&message) == EINVAL);
        CHECK_THAT(message, Contains("size mismatch: image " + fx.image + " is " +
                                     std::to_string(device_bytes + 512) + " bytes"));
    }
    SECTION("snapshot of another size than the CoW file's device") {
        fixture fx;
        fx.snapshot_bytes.resize(device_bytes - 512);
        write_all(fx.snapshot, fx.snapshot_bytes);
        fx.image_bytes.resize(device_bytes - 512);
        write_all(fx.image, fx.image_bytes);
        std::string message;
        CHECK(fx.refused(&message) == EINVAL);
        CHECK_THAT(message, Contains("size mismatch: CoW file"));
    }
}

TEST_CASE("update-img refuses a bad CoW file without writing", "[update-img]") {
    fixture fx;
    cow_builder cow(device_sectors, {1, 2}, 3);
    cow.f.seqid = 1;
    cow.f.flags = 0; // not clean, and no write intent
    cow.seal();
    cow.write(fx.cow);
    std::string message;
    CHECK(fx.refused(&message) == EBADMSG);
    CHECK_THAT(message, Contains("not clean"));
    CHECK(fx.lookups == 0);

    cow_builder broken(device_sectors, {1, 2});
    broken.crash(true);
    broken.write(fx.cow);
    CHECK(fx.refused(&message) == EBADMSG);
    CHECK_THAT(message, Contains("broken chain (a change may be missing): take a full backup"));

    cow.f.flags = BSNAP_COW_CLEAN;
    cow.seal();
    cow.write(fx.cow, 5000);
    CHECK(fx.refused(&message) == EBADMSG);
    CHECK_THAT(message, Contains("truncated"));
}

// Issue 14's case, end to end: a bitmap_len of 2 GiB (the other regions
// moved to make room) in a sparse file of 12 KiB of data. update-img used
// to allocate the 2 GiB, or fail with ENOMEM.
TEST_CASE("update-img refuses a 2 GiB bitmap_len without allocating it", "[update-img]") {
    fixture fx;
    cow_builder cow(device_sectors, {});
    const std::uint64_t gib = 1ull << 30;
    const std::uint64_t room = 2 * gib - cow.f.bitmap_len;
    cow.f.bitmap_len = 2 * gib;
    for (std::uint64_t* off : {&cow.f.valid_off, &cow.f.ranges_off, &cow.f.index_off,
                               &cow.f.data_off, &cow.f.file_size, &cow.f.grown_off})
        *off += room;
    cow.seal();
    std::vector<char> first = cow.header_block(cow.crc);
    first.resize(12 * 1024, 0);
    write_all(fx.cow, first);
    std::filesystem::resize_file(fx.cow, cow.f.file_size);

    allocation_probe probe;
    try {
        update_image(fx.params(), fx.lookup());
        FAIL("update_image succeeded");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == EBADMSG);
        CHECK_THAT(e.what(), Contains("bad header: bitmap_len 2147483648, expected 4096"));
    }
    CHECK(probe.largest() < 1024 * 1024);
    CHECK(fx.lookups == 0);
    CHECK(difference(read_all(fx.image), fx.image_bytes) == "");
}

TEST_CASE("update-img refuses an image that is not a backup", "[update-img]") {
    SECTION("missing: not created") {
        fixture fx;
        std::filesystem::remove(fx.image);
        CHECK_THROWS_WITH(update_image(fx.params(), fx.lookup()),
                          Contains("image " + fx.image + ": No such file or directory"));
        CHECK_FALSE(std::filesystem::exists(fx.image));
    }
    SECTION("the snapshot itself") {
        fixture fx;
        fx.image = fx.snapshot;
        fx.image_bytes = fx.snapshot_bytes;
        CHECK(fx.refused() == EINVAL);
    }
    SECTION("a directory") {
        fixture fx;
        update_params params = fx.params();
        params.image = fx.dir.path.string();
        CHECK_THROWS_WITH(update_image(params, fx.lookup()),
                          Contains("not a regular file or block device"));
    }
}

TEST_CASE("a lookup that refuses the device stops update-img before writing", "[update-img]") {
    fixture fx;
    auto refuse = [](const std::string& path, const struct stat&) -> snapshot_identity {
        throw errno_error(ENOTBLK, path);
    };
    CHECK_THROWS_WITH(update_image(fx.params(), refuse), Contains("Block device required"));
    CHECK(difference(read_all(fx.image), fx.image_bytes) == "");
}

TEST_CASE("a snapshot that fails during the copy makes update-img fail", "[update-img]") {
    fixture fx;
    auto lookup = [&fx](const std::string&, const struct stat&) {
        snapshot_identity id = fx.identity;
        if (fx.lookups++ > 0)
            id.error = ENOSPC; // the CoW file filled up while we copied
        return id;
    };
    try {
        update_image(fx.params(), lookup);
        FAIL("update_image succeeded");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == ENOSPC);
        CHECK_THAT(e.what(),
                   Contains("failed during the copy: image " + fx.image + " is incomplete"));
    }
}

TEST_CASE("the summary and progress lines", "[update-img]") {
    CHECK(summary_line({12, 12 * 4096, 0.5}) ==
          "update-img: copied 12 blocks (0.0 MiB: 0.0 MiB written, 0.0 MiB zeroed) in 0.50 s "
          "(0.1 MiB/s)");
    CHECK(summary_line({2560, 10 * 1024 * 1024, 2, 3 * 1024 * 1024}) ==
          "update-img: copied 2560 blocks (10.0 MiB: 7.0 MiB written, 3.0 MiB zeroed) in 2.00 s "
          "(5.0 MiB/s)");
    CHECK(summary_line({2560, 10 * 1024 * 1024, 2, 3 * 1024 * 1024, 40 * 1024 * 1024}) ==
          "update-img: copied 2560 blocks (10.0 MiB: 7.0 MiB written, 3.0 MiB zeroed; 40.0 MiB "
          "read) in 2.00 s (5.0 MiB/s)");
    CHECK(summary_line({0, 0, 0}) == "update-img: copied 0 blocks (0.0 MiB: 0.0 MiB written, 0.0 "
                                     "MiB zeroed) in 0.00 s (0.0 MiB/s)");

    copy_progress p{1, 4, 1024 * 1024, 4 * 1024 * 1024, 0.5};
    CHECK(progress_line(p) == "update-img:  25% 1 MiB of 4 MiB, 2.0 MiB/s");
    p.bytes_done = p.bytes_total;
    CHECK(progress_line(p) == "update-img: 100% 4 MiB of 4 MiB, 8.0 MiB/s");
    CHECK(progress_line({}) == "update-img: 100% 0 B of 0 B, 0.0 MiB/s");
}

TEST_CASE("bsnap's block major is read from /proc/devices", "[update-img]") {
    const std::string text = "Character devices:\n  1 mem\n 10 misc\n252 bsnap-ctl\n254 bsnap\n"
                             "\nBlock devices:\n  7 loop\n  8 sd\n251 bsnapx\n252 bsnap\n";
    CHECK(block_major(text, "bsnap") == 252u);
    CHECK(block_major(text, "loop") == 7u);
    CHECK(block_major(text, "bsnap-ctl") == std::nullopt); // a character device only
    CHECK(block_major("Block devices:\n259 blkext\n", "bsnap") == std::nullopt);
    CHECK(block_major("", "bsnap") == std::nullopt);
}

TEST_CASE("the real lookup refuses devices that are not bsnap snapshots", "[update-img]") {
    temp_directory dir;
    write_all(dir / "devices", std::vector<char>{});
    {
        std::ofstream(dir / "devices") << "Character devices:\n  1 mem\n\nBlock devices:\n"
                                          "  8 sd\n252 bsnap\n";
    }
    struct stat st {};
    st.st_mode = S_IFREG | 0644;
    CHECK_THROWS_WITH(identify_bsnap_snapshot("/x", st, dir / "devices"),
                      "/x: Block device required");

    st.st_mode = S_IFBLK | 0600;
    st.st_rdev = makedev(8, 1);
    CHECK_THROWS_WITH(identify_bsnap_snapshot("/dev/sda1", st, dir / "devices"),
                      "/dev/sda1 is not a bsnap snapshot device (major 8, bsnap's is 252): "
                      "Invalid argument");

    { std::ofstream(dir / "devices") << "Block devices:\n  8 sd\n"; }
    try {
        identify_bsnap_snapshot("/dev/bsnap0", st, dir / "devices");
        FAIL("no bsnap major, yet accepted");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == ENOENT);
        CHECK_THAT(e.what(), Contains("bsnap module not loaded"));
    }
}

namespace {

// The image's allocation at [offset, offset + len): true if it is all hole.
bool is_hole(const std::string& path, std::uint64_t offset, std::uint64_t len) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    off_t hole = ::lseek(fd, static_cast<off_t>(offset), SEEK_HOLE);
    off_t data = ::lseek(fd, static_cast<off_t>(offset), SEEK_DATA);
    ::close(fd);
    // SEEK_DATA fails with ENXIO when no data follows offset.
    return hole == static_cast<off_t>(offset) &&
           (data < 0 || static_cast<std::uint64_t>(data) >= offset + len);
}

std::uint64_t allocated_bytes(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

// A fixture whose snapshot holds zeros in blocks [10, 50) and in the last,
// partial block; the image (random bytes, fully allocated) is to get them.
struct zero_fixture : fixture {
    static std::vector<std::uint64_t> changed_blocks() {
        std::vector<std::uint64_t> changed = {0, 1, 2, 7, 8};
        for (std::uint64_t b = 10; b < 50; ++b)
            changed.push_back(b);
        changed.push_back(60);
        changed.push_back(130);
        return changed;
    }
    std::vector<std::uint64_t> changed = changed_blocks();

    zero_fixture() : fixture(changed_blocks()) {
        std::fill(snapshot_bytes.begin() + 10 * block, snapshot_bytes.begin() + 50 * block, 0);
        std::fill(snapshot_bytes.begin() + 130 * block, snapshot_bytes.end(), 0);
        // Block 60 is zero but for its last byte: not a zero block.
        std::fill(snapshot_bytes.begin() + 60 * block, snapshot_bytes.begin() + 61 * block - 1, 0);
        snapshot_bytes[61 * block - 1] = 1;
        write_all(snapshot, snapshot_bytes);
    }
};

} // namespace

TEST_CASE("update-img punches holes for all-zero blocks of a regular-file image", "[update-img]") {
    // 4 MiB I/Os take the zero run whole; 3-block ones split it (and mix
    // zero and non-zero blocks in one I/O).
    for (std::uint64_t max_io : {3 * block, 4 * 1024 * 1024ul}) {
        INFO("max_io " << max_io);
        zero_fixture fx;
        REQUIRE(is_hole(fx.image, 10 * block, 40 * block) == false);
        std::uint64_t allocated_before = allocated_bytes(fx.image);
        update_result result = update_image(fx.params(max_io), fx.lookup());
        CHECK(difference(read_all(fx.image), fx.expected(fx.changed)) == "");
        CHECK(result.blocks == fx.changed.size());
        CHECK(result.bytes == (fx.changed.size() - 1) * block + 1024);
        CHECK(result.bytes_zeroed == 40 * block + 1024);
        CHECK(is_hole(fx.image, 10 * block, 40 * block));
        CHECK_FALSE(is_hole(fx.image, 60 * block, block));
        CHECK(allocated_bytes(fx.image) <= allocated_before - 40 * block);
    }
}

TEST_CASE("update-img hands zero runs to zero_range and writes the rest", "[update-img]") {
    zero_fixture fx;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
    update_params params = fx.params();
    params.zero_range = [&calls](int fd, std::uint64_t offset, std::uint64_t len) {
        calls.emplace_back(offset, len);
        return default_zero_range(false)(fd, offset, len);
    };
    update_result result = update_image(params, fx.lookup());
    CHECK(difference(read_all(fx.image), fx.expected(fx.changed)) == "");
    using range = std::pair<std::uint64_t, std::uint64_t>;
    CHECK(calls == std::vector<range>{{10 * block, 40 * block}, {130 * block, 1024}});
    CHECK(result.bytes_zeroed == 40 * block + 1024);
}

TEST_CASE("update-img writes the zeros where zero_range is not supported", "[update-img]") {
    for (int err : {EOPNOTSUPP, EINVAL, ENOTTY}) {
        INFO("zero_range fails with " << err);
        zero_fixture fx;
        int calls = 0;
        update_params params = fx.params(3 * block);
        params.zero_range = [&calls, err](int, std::uint64_t, std::uint64_t) {
            ++calls;
            return err;
        };
        update_result result = update_image(params, fx.lookup());
        CHECK(difference(read_all(fx.image), fx.expected(fx.changed)) == "");
        CHECK(result.bytes_zeroed == 0);
        CHECK(result.bytes == (fx.changed.size() - 1) * block + 1024);
        CHECK(calls == 1); // not asked again once it said "not supported"
        CHECK_FALSE(is_hole(fx.image, 10 * block, 40 * block));
    }
}

TEST_CASE("update-img fails when zero_range fails for another reason", "[update-img]") {
    zero_fixture fx;
    update_params params = fx.params();
    params.zero_range = [](int, std::uint64_t, std::uint64_t) { return EIO; };
    try {
        update_image(params, fx.lookup());
        FAIL("update_image succeeded");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == EIO);
        CHECK_THAT(e.what(), Contains("zero image " + fx.image + " at offset 40960"));
    }
}

TEST_CASE("update-img reads nearby runs together and writes only the changed blocks",
          "[update-img]") {
    // The image differs from the snapshot in every block: an unchanged block
    // read along with the changed ones and written would show.
    std::vector<std::uint64_t> changed = {0, 1, 2, 7, 8, 63, 64, 65, 100, 130};
    fixture fx(changed);
    update_params params = fx.params();
    params.max_gap = 8 * block; // joins 0-2 and 7-8 (gap 4), not 8 and 63
    update_result result = update_image(params, fx.lookup());
    CHECK(difference(read_all(fx.image), fx.expected(changed)) == "");
    CHECK(result.blocks == changed.size());
    CHECK(result.bytes == (changed.size() - 1) * block + 1024);
    // Read: 0-8, 63-65, 100, 130 (partial).
    CHECK(result.bytes_read == (9 + 3 + 1) * block + 1024);

    fixture again(changed);
    params = again.params();
    params.max_gap = 0;
    result = update_image(params, again.lookup());
    CHECK(difference(read_all(again.image), again.expected(changed)) == "");
    CHECK(result.bytes_read == result.bytes);
}

TEST_CASE("update-img turns the old snapshot's image into the new snapshot, bit for bit",
          "[update-img]") {
    // A larger device: 3000 blocks and 3 KiB. The image holds the old
    // snapshot; the new one differs from it in the changed blocks only.
    constexpr std::uint64_t sectors = 3000 * 8 + 6;
    constexpr std::uint64_t bytes = sectors * 512;
    std::mt19937 random(11);
    std::vector<std::uint64_t> changed;
    for (std::uint64_t b = 0; b < 3001; ++b)
        if (random() % 9 == 0 || (b >= 1000 && b < 1500) || b == 3000)
            changed.push_back(b);
    std::vector<char> old_bytes = random_bytes(bytes, 3);
    std::vector<char> new_bytes = old_bytes;
    for (std::uint64_t b : changed)
        for (std::uint64_t i = b * block; i < std::min(bytes, (b + 1) * block); ++i)
            new_bytes[i] = static_cast<char>(random() | 1); // never the old byte's zero
    // Blocks 1200-1299 become zeros: a hole is punched there.
    std::fill(new_bytes.begin() + 1200 * block, new_bytes.begin() + 1300 * block, 0);

    struct variant {
        std::uint64_t max_io, max_gap;
        unsigned readers;
    };
    for (variant v : {variant{4 * 1024 * 1024, 1024 * 1024, 4}, variant{5 * block, 2 * block, 3},
                      variant{block, 0, 1}, variant{64 * block, 16 * block, 8}}) {
        INFO("max_io " << v.max_io << ", max_gap " << v.max_gap << ", " << v.readers << " readers");
        temp_directory dir;
        write_all(dir / "snapshot", new_bytes);
        write_all(dir / "image", old_bytes);
        cow_builder(sectors, changed).write(dir / "cow");
        snapshot_identity identity{"snapshot", test_uuid, 2, 0, std::nullopt};
        update_params params{dir / "snapshot", {dir / "cow"}, dir / "image", v.max_io};
        params.max_gap = v.max_gap;
        params.readers = v.readers;
        std::vector<copy_progress> calls;
        update_result result = update_image(
            params, [&](const std::string&, const struct stat&) { return identity; },
            [&calls](const copy_progress& p) { calls.push_back(p); });
        CHECK(difference(read_all(dir / "image"), new_bytes) == "");
        CHECK(result.blocks == changed.size());
        CHECK(result.bytes == (changed.size() - 1) * block + 3 * 1024);
        CHECK(result.bytes_zeroed == 100 * block);
        CHECK(result.bytes_read >= result.bytes);
        REQUIRE_FALSE(calls.empty());
        for (std::size_t i = 1; i < calls.size(); ++i)
            CHECK(calls[i].bytes_done >= calls[i - 1].bytes_done);
        CHECK(calls.back().bytes_done == result.bytes);
        CHECK(calls.back().blocks_done == changed.size());
    }
}

namespace {

// A clean CoW file of the test chain, seqid and changed blocks as given.
void write_cow(const std::string& path, std::uint64_t seqid,
               const std::vector<std::uint64_t>& changed) {
    cow_builder cow(device_sectors, changed);
    cow.f.seqid = seqid;
    cow.seal();
    cow.write(path);
}

} // namespace

TEST_CASE("update-img applies the union of several CoW files, oldest first", "[update-img]") {
    // The backup of snapshot 5 never completed: the image holds snapshot 4,
    // snapshot 7 is the one now, and CoW files 4, 5 and 6 hold the changes.
    fixture fx;
    fx.identity.seqid = 7;
    std::vector<std::string> cows = {fx.dir / "cow4", fx.dir / "cow5", fx.dir / "cow6"};
    write_cow(cows[0], 4, {0, 1, 100});
    write_cow(cows[1], 5, {1, 2, 63});
    write_cow(cows[2], 6, {130});
    update_params params = fx.params();
    params.cows = cows;
    std::vector<copy_progress> calls;
    update_result result =
        update_image(params, fx.lookup(), [&calls](const copy_progress& p) { calls.push_back(p); });
    std::vector<std::uint64_t> changed = {0, 1, 2, 63, 100, 130};
    CHECK(difference(read_all(fx.image), fx.expected(changed)) == "");
    CHECK(result.blocks == changed.size());
    CHECK(result.bytes == (changed.size() - 1) * block + 1024);
    CHECK(result.recovered.empty());
    REQUIRE_FALSE(calls.empty());
    CHECK(calls.back().blocks_total == changed.size());
    CHECK(calls.back().bytes_total == result.bytes);
}

TEST_CASE("update-img refuses CoW files out of order without writing", "[update-img]") {
    fixture fx;
    fx.identity.seqid = 7;
    std::string four = fx.dir / "cow4", five = fx.dir / "cow5", six = fx.dir / "cow6";
    write_cow(four, 4, {0});
    write_cow(five, 5, {1});
    write_cow(six, 6, {2});
    struct order {
        std::vector<std::string> cows;
        std::string message;
    };
    for (const order& o :
         {order{{five, four, six}, "wrong order: CoW file " + four + " (seqid 4) is listed after"},
          order{{four, six},
                "gap in the chain: CoW file " + four + " is seqid 4, CoW file " + six +
                    " seqid 6; the CoW file of seqid 5 is missing"},
          order{{four, four, five, six}, "are both seqid 4"},
          // The newest must be the snapshot's minus one.
          order{{four, five},
                "wrong order: CoW file " + five + " is seqid 5, snapshot " + fx.snapshot +
                    " is seqid 7; apply the incrementals in order " +
                    "(the CoW file of seqid 6 goes with this snapshot, listed last)"},
          order{{five, six, four}, "(seqid 4) is listed after CoW file " + six}}) {
        INFO(o.message);
        update_params params = fx.params();
        params.cows = o.cows;
        try {
            update_image(params, fx.lookup());
            FAIL("update_image succeeded");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == EINVAL);
            CHECK_THAT(e.what(), Contains(o.message));
        }
        CHECK(difference(read_all(fx.image), fx.image_bytes) == "");
    }

    // Another chain: the snapshot's UUID is not the CoW files'.
    fx.identity.uuid[0] ^= 1;
    update_params params = fx.params();
    params.cows = {four, five, six};
    CHECK_THROWS_WITH(update_image(params, fx.lookup()),
                      Contains("different chain: CoW file " + six + " belongs to chain"));
    CHECK(difference(read_all(fx.image), fx.image_bytes) == "");
}

TEST_CASE("update-img copies every block of a crashed CoW file's write-intent regions",
          "[update-img]") {
    fixture fx(std::vector<std::uint64_t>{});
    cow_builder cow(device_sectors, {3});
    cow.crash();
    cow.set_region(0); // the device's one region, 131 blocks
    cow.write(fx.cow);
    update_result result = update_image(fx.params(), fx.lookup());
    CHECK(difference(read_all(fx.image), fx.snapshot_bytes) == "");
    CHECK(result.blocks == 131);
    REQUIRE(result.recovered.size() == 1);
    CHECK(result.recovered[0] == recovered_cow{fx.cow, 1, 4 * 1024 * 1024});
    CHECK(recovered_line(result.recovered[0]) ==
          "update-img: CoW file " + fx.cow +
              " was not closed cleanly (a crash): the incremental is a superset of the changes, "
              "with every block of its 1 write-intent region of 4 MiB");
    CHECK_THAT(recovered_line({"/c", 3, 64 * 1024 * 1024}),
               Contains("every block of its 3 write-intent regions of 64 MiB"));
}

TEST_CASE("update-img refuses a CoW file given as the image", "[update-img]") {
    SECTION("one of the CoW files listed") {
        fixture fx;
        update_params params = fx.params();
        params.image = fx.cow;
        CHECK_THROWS_WITH(update_image(params, fx.lookup()),
                          Contains("image " + fx.cow + " is the snapshot or a CoW file itself"));
    }
    SECTION("another CoW file: the image was left off the command line") {
        // update-img /dev/bsnap0 cow1 cow2, meant as two CoW files.
        fixture fx;
        cow_builder next(device_sectors, {1});
        next.f.seqid = 2;
        next.seal();
        next.write(fx.image);
        std::vector<char> cow_bytes = read_all(fx.image);
        fx.image_bytes = cow_bytes;
        try {
            update_image(fx.params(), fx.lookup());
            FAIL("update_image succeeded");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == EINVAL);
            CHECK_THAT(e.what(), Contains("is a bsnap CoW file, not a backup"));
        }
        CHECK(difference(read_all(fx.image), cow_bytes) == "");
    }
}
