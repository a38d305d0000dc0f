#include <bsnap/unique_fd.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

using namespace bsnap;
using Catch::Matchers::Equals;

namespace {
bool is_open(int fd) {
    return ::fcntl(fd, F_GETFD) != -1;
}
} // namespace

TEST_CASE("unique_fd closes on destruction and moves ownership", "[fd]") {
    int raw;
    {
        unique_fd fd = open_fd("/dev/null", O_RDONLY);
        raw = fd.get();
        REQUIRE(raw >= 0);
        CHECK(is_open(raw));
        CHECK((::fcntl(raw, F_GETFD) & FD_CLOEXEC) != 0);

        unique_fd moved(std::move(fd));
        CHECK_FALSE(fd);
        CHECK(fd.get() == -1);
        CHECK(moved.get() == raw);
        CHECK(is_open(raw));
    }
    CHECK_FALSE(is_open(raw));
}

TEST_CASE("unique_fd reset and release", "[fd]") {
    unique_fd fd = open_fd("/dev/null", O_RDONLY);
    int first = fd.get();
    fd.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    CHECK_FALSE(is_open(first));
    int second = fd.release();
    CHECK_FALSE(fd);
    CHECK(is_open(second));
    ::close(second);

    unique_fd a = open_fd("/dev/null", O_RDONLY);
    unique_fd b = open_fd("/dev/null", O_RDONLY);
    int b_raw = b.get();
    int a_raw = a.get();
    a = std::move(b);
    CHECK(a.get() == b_raw);
    CHECK_FALSE(is_open(a_raw));
}

TEST_CASE("open_fd errors carry errno and the path", "[fd]") {
    try {
        open_fd("/nonexistent/bsnap", O_RDONLY);
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == ENOENT);
        CHECK_THAT(e.what(), Equals("open /nonexistent/bsnap: No such file or directory"));
    }
}
