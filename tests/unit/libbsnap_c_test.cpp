// libbsnap's C API (<bsnap/libbsnap.h>): negative errnos with a reason, the
// CoW file reader on files written with the module's codec, struct sizes,
// and the plain C program bsnap-example run on such files.
#include "cow_test_files.hpp"

#include <array>
#include <bsnap/libbsnap.h>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <sys/wait.h>
#include <utility>
#include <vector>

using namespace bsnap_test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

struct ctx_deleter {
    void operator()(bsnap_ctx* ctx) const { bsnap_ctx_free(ctx); }
};
using ctx_ptr = std::unique_ptr<bsnap_ctx, ctx_deleter>;

ctx_ptr new_ctx() {
    bsnap_ctx* ctx = nullptr;
    REQUIRE(bsnap_ctx_new(&ctx) == 0);
    return ctx_ptr(ctx);
}

struct file_deleter {
    void operator()(bsnap_cow_file* f) const { bsnap_cow_file_close(f); }
};
using file_ptr = std::unique_ptr<bsnap_cow_file, file_deleter>;

std::vector<std::pair<std::uint64_t, std::uint64_t>> all_runs(bsnap_cow_file* f) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
    std::uint64_t first = 0, count = 0;
    int ret;
    while ((ret = bsnap_cow_file_next_run(f, &first, &count)) == 1)
        runs.emplace_back(first, count);
    CHECK(ret == 0);
    return runs;
}

// Output and exit status of a command line.
std::pair<std::string, int> run(const std::string& command) {
    std::string out;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::array<char, 4096> buffer;
    std::size_t n;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
        out.append(buffer.data(), n);
    int status = ::pclose(pipe);
    return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

// 300 blocks; changed: 0, 5-7, 64-199 (a run across whole words), 299.
std::vector<std::uint64_t> changed_blocks() {
    std::vector<std::uint64_t> blocks = {0, 5, 6, 7, 299};
    for (std::uint64_t b = 64; b < 200; ++b)
        blocks.push_back(b);
    return blocks;
}

} // namespace

TEST_CASE("libbsnap: a CoW file's header and runs of changed blocks", "[libbsnap]") {
    temp_directory dir;
    cow_builder cow(300 * 8, changed_blocks());
    cow.f.seqid = 4;
    cow.seal();
    cow.write(dir / "cow");

    ctx_ptr ctx = new_ctx();
    bsnap_cow_file* raw = nullptr;
    REQUIRE(bsnap_cow_file_open(ctx.get(), (dir / "cow").c_str(), 0, &raw) == 0);
    file_ptr file(raw);
    CHECK(std::string(bsnap_reason(ctx.get())) == "");

    bsnap_cow_file_info info{};
    info.size = sizeof info;
    REQUIRE(bsnap_cow_file_get_info(file.get(), &info) == 0);
    CHECK(info.version == BSNAP_COW_VERSION);
    CHECK(info.seqid == 4);
    CHECK((info.flags & BSNAP_COW_CLEAN) != 0);
    CHECK(info.block_size == 4096);
    CHECK(info.nr_blocks == 300);
    CHECK(info.device_sectors == 300 * 8);
    CHECK(info.changed_blocks == changed_blocks().size());
    CHECK(std::equal(std::begin(info.uuid), std::end(info.uuid), test_uuid.begin()));

    using runs = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
    const runs expected = {{0, 1}, {5, 3}, {64, 136}, {299, 1}};
    CHECK(all_runs(file.get()) == expected);
    CHECK(all_runs(file.get()).empty()); // at the end it stays there
    bsnap_cow_file_rewind(file.get());
    CHECK(all_runs(file.get()) == expected);
}

TEST_CASE("libbsnap: an older caller's shorter struct gets only what it knows", "[libbsnap]") {
    temp_directory dir;
    cow_builder(64 * 8, {1}).write(dir / "cow");
    ctx_ptr ctx = new_ctx();
    bsnap_cow_file* raw = nullptr;
    REQUIRE(bsnap_cow_file_open(ctx.get(), (dir / "cow").c_str(), 0, &raw) == 0);
    file_ptr file(raw);

    struct {
        bsnap_cow_file_info info;
        std::uint64_t guard;
    } small{};
    std::memset(&small, 0xaa, sizeof small);
    small.info.size = offsetof(bsnap_cow_file_info, seqid); // knows up to uuid
    REQUIRE(bsnap_cow_file_get_info(file.get(), &small.info) == 0);
    CHECK(small.info.size == offsetof(bsnap_cow_file_info, seqid));
    CHECK(small.info.block_size == 4096);
    CHECK(small.info.seqid == 0xaaaaaaaaaaaaaaaaull); // not written
    CHECK(small.guard == 0xaaaaaaaaaaaaaaaaull);

    bsnap_cow_file_info zero{};
    CHECK(bsnap_cow_file_get_info(file.get(), &zero) == -EINVAL);
}

TEST_CASE("libbsnap: an unclean version 3 file is read header only", "[libbsnap]") {
    temp_directory dir;
    cow_builder cow(64 * 8, {3, 4}, 3);
    cow.f.flags = 0; // not closed properly
    cow.seal();
    cow.write(dir / "cow");
    ctx_ptr ctx = new_ctx();
    bsnap_cow_file* raw = nullptr;

    CHECK(bsnap_cow_file_open(ctx.get(), (dir / "cow").c_str(), 0, &raw) == -EBADMSG);
    CHECK(raw == nullptr);
    CHECK_THAT(bsnap_reason(ctx.get()),
               StartsWith("CoW file " + (dir / "cow")) && Contains("not clean"));

    REQUIRE(bsnap_cow_file_open(ctx.get(), (dir / "cow").c_str(), BSNAP_COW_FILE_HEADER_ONLY,
                                &raw) == 0);
    file_ptr file(raw);
    bsnap_cow_file_info info{};
    info.size = sizeof info;
    REQUIRE(bsnap_cow_file_get_info(file.get(), &info) == 0);
    CHECK((info.flags & BSNAP_COW_CLEAN) == 0);
    CHECK(info.changed_blocks == 2);
    CHECK(info.recovered == 0);
    std::uint64_t first, count;
    CHECK(bsnap_cow_file_next_run(file.get(), &first, &count) == -EINVAL);
}

TEST_CASE("libbsnap: a version 4 file left by a crash gives a superset, and says so",
          "[libbsnap]") {
    temp_directory dir;
    cow_builder cow(64 * 8, {3, 4}, 4);
    cow.crash();
    cow.write(dir / "cow");
    ctx_ptr ctx = new_ctx();
    bsnap_cow_file* raw = nullptr;
    REQUIRE(bsnap_cow_file_open(ctx.get(), (dir / "cow").c_str(), 0, &raw) == 0);
    file_ptr file(raw);
    bsnap_cow_file_info info{};
    info.size = sizeof info;
    REQUIRE(bsnap_cow_file_get_info(file.get(), &info) == 0);
    CHECK(info.recovered == 1);
    CHECK((info.flags & BSNAP_COW_CLEAN) == 0);
    using runs = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
    CHECK(all_runs(file.get()) == runs{{3, 2}});
    CHECK(info.changed_blocks == 2);
}

TEST_CASE("libbsnap: refusals are negative errnos with a reason", "[libbsnap]") {
    temp_directory dir;
    ctx_ptr ctx = new_ctx();
    bsnap_cow_file* raw = nullptr;

    CHECK(bsnap_cow_file_open(ctx.get(), (dir / "missing").c_str(), 0, &raw) == -ENOENT);
    CHECK_THAT(bsnap_reason(ctx.get()), Contains(dir / "missing"));

    write_all(dir / "junk", std::vector<char>(8192, 'x'));
    CHECK(bsnap_cow_file_open(ctx.get(), (dir / "junk").c_str(), 0, &raw) == -EBADMSG);
    CHECK_THAT(bsnap_reason(ctx.get()), Contains("magic"));
    CHECK(bsnap_cow_file_open(ctx.get(), (dir / "junk").c_str(), 0x80, &raw) == -EINVAL);
    CHECK_THAT(bsnap_reason(ctx.get()), Contains("unknown flags"));
    CHECK(bsnap_cow_file_open(ctx.get(), nullptr, 0, &raw) == -EINVAL);
    CHECK(bsnap_cow_file_open(nullptr, (dir / "junk").c_str(), 0, &raw) == -EINVAL);

    // A control call on a control device that is not there (the host has
    // no module): ENOENT, the reason names the operation and the fix.
    if (!std::filesystem::exists("/dev/bsnap-ctl")) {
        CHECK(bsnap_destroy(ctx.get(), 3) == -ENOENT);
        CHECK(std::string(bsnap_reason(ctx.get())) ==
              "destroy: bsnap module not loaded (no /dev/bsnap-ctl): No such file or directory");
    }
    CHECK(bsnap_setup_snapshot(ctx.get(), (dir / "junk").c_str(), "/x", 0, nullptr) == -ENOTBLK);
    CHECK_THAT(bsnap_reason(ctx.get()), StartsWith("setup-snapshot: "));
    CHECK(bsnap_setup_snapshot(ctx.get(), nullptr, "/x", 0, nullptr) == -EINVAL);
    CHECK_THAT(bsnap_reason(ctx.get()), Contains("block device is NULL"));
    CHECK(bsnap_get_free_minor(ctx.get(), nullptr) == -EINVAL);
}

TEST_CASE("libbsnap: the C program bsnap-example reads a CoW file", "[libbsnap]") {
    temp_directory dir;
    cow_builder(300 * 8, changed_blocks()).write(dir / "cow");
    auto [out, rc] = run(std::string(BSNAP_EXAMPLE) + " runs " + (dir / "cow"));
    CHECK(rc == 0);
    CHECK_THAT(out,
               StartsWith("version=" + std::to_string(BSNAP_COW_VERSION) +
                          " seqid=1 clean=1 recovered=0 superseded=0 block_size=4096 nr_blocks=300 "
                          "changed_blocks=141 uuid=10325476-98ba-dcfe-0123-456789abcdef\n"));
    CHECK_THAT(out, Contains("\n0 1\n5 3\n64 136\n299 1\n"));

    std::tie(out, rc) = run(std::string(BSNAP_EXAMPLE) + " runs " + (dir / "missing"));
    CHECK(rc == ENOENT);
    CHECK_THAT(out,
               StartsWith("bsnap-example: open " + (dir / "missing")) && Contains("(errno 2)"));
}
