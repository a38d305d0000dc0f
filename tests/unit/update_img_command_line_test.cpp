#include "update_img_command_line.hpp"

#include <bsnap/cow_file_reader.hpp>
#include <bsnap/errors.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <new>

using namespace bsnap::upd;
using Catch::Matchers::Contains;

namespace {
using args = std::vector<std::string>;

template <typename Error>
failure fail_with(Error error) {
    return describe_failure(std::make_exception_ptr(error));
}
} // namespace

TEST_CASE("update-img takes a snapshot, a CoW file and an image", "[update-img-cli]") {
    update_img_args expected;
    expected.snapshot = "/dev/bsnap3";
    expected.cows = {"/mnt/cow1"};
    expected.image = "/backup/img";
    CHECK(parse_update_img_args({"/dev/bsnap3", "/mnt/cow1", "/backup/img"}) == expected);
    expected.quiet = true;
    CHECK(parse_update_img_args({"-q", "/dev/bsnap3", "/mnt/cow1", "/backup/img"}) == expected);
    CHECK(parse_update_img_args({"/dev/bsnap3", "/mnt/cow1", "--quiet", "/backup/img"}) ==
          expected);
    expected.quiet = false;
    expected.image = "-weird";
    CHECK(parse_update_img_args({"/dev/bsnap3", "/mnt/cow1", "--", "-weird"}) == expected);

    CHECK(parse_update_img_args({"--help"}).help);
    CHECK(parse_update_img_args({"x", "-h"}).help);
    CHECK(parse_update_img_args({"-V"}).version);
    CHECK_THAT(update_img_help(),
               Contains("Usage: update-img [-q] <snapdev> <old_cow>... <image>"));
}

TEST_CASE("update-img takes several CoW files, oldest first, between snapshot and image",
          "[update-img-cli]") {
    update_img_args expected;
    expected.snapshot = "/dev/bsnap3";
    expected.cows = {"/mnt/cow4", "/mnt/cow5", "/mnt/cow6"};
    expected.image = "/backup/img";
    CHECK(parse_update_img_args(
              {"/dev/bsnap3", "/mnt/cow4", "/mnt/cow5", "/mnt/cow6", "/backup/img"}) == expected);
    expected.quiet = true;
    CHECK(parse_update_img_args({"/dev/bsnap3", "/mnt/cow4", "-q", "/mnt/cow5", "/mnt/cow6",
                                 "/backup/img"}) == expected);
}

TEST_CASE("update-img's malformed command lines are usage errors", "[update-img-cli]") {
    CHECK_THROWS_WITH(parse_update_img_args({}), "missing <snapdev> (see 'update-img --help')");
    CHECK_THROWS_WITH(parse_update_img_args({"a", "b"}),
                      "missing <image> (see 'update-img --help')");
    CHECK_THROWS_WITH(parse_update_img_args({"--force-chain", "a", "b", "c"}),
                      "unknown option '--force-chain' (see 'update-img --help')");
    CHECK_THROWS_AS(parse_update_img_args({"-x"}), usage_error);
}

TEST_CASE("update-img exits with the errno of a failure, 64 for usage", "[update-img-cli]") {
    failure f = fail_with(usage_error("missing <image>"));
    CHECK(f.status == 64);
    CHECK(f.message == "update-img: missing <image>");

    f = fail_with(bsnap::cow_format_error(bsnap::cow_problem::not_clean, "CoW file /c: not clean"));
    CHECK(f.status == EBADMSG);
    CHECK(f.message == "update-img: CoW file /c: not clean: Bad message");

    f = fail_with(bsnap::errno_error(EINVAL, "wrong order: ..."));
    CHECK(f.status == EINVAL);
    CHECK(f.message == "update-img: wrong order: ...: Invalid argument");

    f = fail_with(bsnap::errno_error(EIO, "read snapshot /dev/bsnap0 at offset 0"));
    CHECK(f.status == EIO);

    CHECK(fail_with(std::bad_alloc()).status == ENOMEM);
    CHECK(fail_with(std::logic_error("oops")).status == exit_internal);
    CHECK(fail_with(std::logic_error("oops")).message == "update-img: internal error: oops");
}
