#include <bsnap/path_checks.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace bsnap;
using Catch::Matchers::Equals;

namespace {

int error_of(void (*check)(const std::string&), const std::string& path) {
    try {
        check(path);
    } catch (const std::system_error& e) {
        return e.code().value();
    }
    return 0;
}

void block(const std::string& path) {
    canonical_block_device(path);
}
void cow(const std::string& path) {
    canonical_cow_path(path);
}

struct temp_directory {
    std::filesystem::path path;
    temp_directory() {
        char pattern[] = "/tmp/bsnap-unit-XXXXXX";
        REQUIRE(::mkdtemp(pattern) != nullptr);
        path = std::filesystem::canonical(pattern);
    }
    ~temp_directory() { std::filesystem::remove_all(path); }
};

} // namespace

TEST_CASE("a block device path must name a block device", "[paths]") {
    temp_directory dir;
    std::ofstream(dir.path / "file") << "x";
    CHECK(error_of(block, (dir.path / "file").string()) == ENOTBLK);
    CHECK(error_of(block, "/dev/null") == ENOTBLK); // a character device
    CHECK(error_of(block, dir.path.string()) == ENOTBLK);
    CHECK(error_of(block, (dir.path / "missing").string()) == ENOENT);
    CHECK_THROWS_WITH(canonical_block_device("/dev/null"), "/dev/null: Block device required");
}

TEST_CASE("a CoW path becomes absolute and canonical", "[paths]") {
    temp_directory dir;
    std::filesystem::create_directory(dir.path / "sub");
    std::filesystem::create_directory_symlink(dir.path / "sub", dir.path / "link");
    CHECK(canonical_cow_path((dir.path / "link" / "cow").string()) ==
          (dir.path / "sub" / "cow").string());
    CHECK(canonical_cow_path((dir.path / "sub" / ".." / "cow").string()) ==
          (dir.path / "cow").string());

    auto previous = std::filesystem::current_path();
    std::filesystem::current_path(dir.path / "sub");
    std::string relative = canonical_cow_path("cow");
    std::filesystem::current_path(previous);
    CHECK(relative == (dir.path / "sub" / "cow").string());
}

TEST_CASE("bad CoW paths get their own errno", "[paths]") {
    temp_directory dir;
    std::ofstream(dir.path / "file") << "x";
    CHECK(error_of(cow, dir.path.string()) == EISDIR);
    CHECK(error_of(cow, (dir.path / "").string()) == EISDIR);
    CHECK(error_of(cow, (dir.path / ".").string()) == EISDIR);
    CHECK(error_of(cow, (dir.path / "missing" / "cow").string()) == ENOENT);
    CHECK(error_of(cow, (dir.path / "file" / "cow").string()) == ENOTDIR);
    CHECK(error_of(cow, "") == ENOENT);
    CHECK_THROWS_WITH(canonical_cow_path(dir.path.string()),
                      Equals("cow file " + dir.path.string() + ": Is a directory"));
}

TEST_CASE("paths longer than the ABI's limit are refused", "[paths]") {
    CHECK_NOTHROW(check_path_length("cow file", std::string(4095, 'x')));
    CHECK_THROWS_WITH(check_path_length("cow file", std::string(4096, 'x')),
                      "cow file path too long (4096 bytes, at most 4095): File name too long");
}
