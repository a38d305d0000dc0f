#include "command_line.hpp"
#include "exit_status.hpp"

#include <bsnap/errors.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <new>

using namespace bsnap::ctl;

namespace {
template <typename Error>
failure fail_with(std::string_view command, Error error) {
    return describe_failure(command, std::make_exception_ptr(error));
}
} // namespace

TEST_CASE("system errors exit with their errno", "[exit]") {
    failure f = fail_with("destroy", bsnap::errno_error(EBUSY, "minor 3"));
    CHECK(f.status == EBUSY);
    CHECK(f.message == "bsnapctl: destroy: minor 3: Device or resource busy");

    f = fail_with("info",
                  bsnap::errno_error(ENOENT, "bsnap module not loaded (no /dev/bsnap-ctl)"));
    CHECK(f.status == ENOENT);
    CHECK(f.message ==
          "bsnapctl: info: bsnap module not loaded (no /dev/bsnap-ctl): No such file or directory");

    f = fail_with("info", bsnap::format_error("/proc/bsnap-info: missing \"version\""));
    CHECK(f.status == EBADMSG);
}

TEST_CASE("usage errors exit 64, or EINVAL for a bad minor", "[exit]") {
    failure f = fail_with("", usage_error("", "unknown command 'x'"));
    CHECK(f.status == 64);
    CHECK(f.message == "bsnapctl: unknown command 'x'");

    f = fail_with("", usage_error("destroy", "minor 300 out of range", EINVAL));
    CHECK(f.status == EINVAL);
    CHECK(f.message == "bsnapctl: destroy: minor 300 out of range");
}

TEST_CASE("anything else is an internal error, memory ENOMEM", "[exit]") {
    CHECK(fail_with("info", std::bad_alloc()).status == ENOMEM);
    failure f = fail_with("info", std::logic_error("oops"));
    CHECK(f.status == exit_internal);
    CHECK(f.message == "bsnapctl: info: internal error: oops");
    CHECK(describe_failure("x", std::make_exception_ptr(42)).status == exit_internal);
    std::error_code foreign(5, std::iostream_category());
    CHECK(fail_with("info", std::system_error(foreign)).status == exit_internal);
}
