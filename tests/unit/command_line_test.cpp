#include "command_line.hpp"

#include <catch2/catch.hpp>
#include <cerrno>
#include <stdexcept>
#include <uapi/bsnap.h>

using namespace bsnap::ctl;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

command parse(std::vector<std::string> args) {
    return parse_command_line(args);
}

template <typename Command>
Command parse_as(std::vector<std::string> args) {
    command cmd = parse(std::move(args));
    REQUIRE(std::holds_alternative<Command>(cmd));
    return std::get<Command>(cmd);
}

// The usage_error a command line raises; fails the test if none.
usage_error refusal(std::vector<std::string> args) {
    try {
        parse(std::move(args));
    } catch (const usage_error& e) {
        return e;
    }
    throw std::runtime_error("the command line was accepted");
}

constexpr std::uint64_t MiB = 1ull << 20;

} // namespace

TEST_CASE("global options and help", "[cli]") {
    CHECK(parse({"--help"}) == command{help_command{}});
    CHECK(parse({"-h"}) == command{help_command{}});
    CHECK(parse({"help"}) == command{help_command{}});
    CHECK(parse({"help", "setup-snapshot"}) == command{help_command{"setup-snapshot"}});
    CHECK(parse({"destroy", "--help"}) == command{help_command{"destroy"}});
    CHECK(parse({"setup-snapshot", "-c", "bad", "-h"}) == command{help_command{"setup-snapshot"}});
    CHECK(parse({"--version"}) == command{version_command{true}});
    CHECK(parse({"version"}) == command{version_command{false}});
}

TEST_CASE("info with and without a minor", "[cli]") {
    CHECK(parse_as<info_command>({"info"}) == info_command{std::nullopt, false});
    CHECK(parse_as<info_command>({"info", "--json"}) == info_command{std::nullopt, true});
    CHECK(parse_as<info_command>({"info", "3"}) == info_command{3u, false});
    CHECK(parse_as<info_command>({"info", "255", "--json"}) == info_command{255u, true});
    CHECK(parse_as<info_command>({"info", "--json", "0"}) == info_command{0u, true});
}

TEST_CASE("get-free-minor takes nothing", "[cli]") {
    CHECK(std::holds_alternative<get_free_minor_command>(parse({"get-free-minor"})));
    CHECK_THAT(refusal({"get-free-minor", "1"}).what(), StartsWith("unexpected argument '1'"));
    CHECK_THAT(refusal({"get-free-minor", "--json"}).what(),
               Contains("unrecognised option '--json'"));
}

TEST_CASE("setup-snapshot with and without options", "[cli]") {
    auto plain = parse_as<setup_snapshot_command>({"setup-snapshot", "/dev/vda1", "/mnt/c", "2"});
    CHECK(plain == setup_snapshot_command{{{"/dev/vda1", "/mnt/c", 2}}, 0, 0, false});

    auto full = parse_as<setup_snapshot_command>(
        {"setup-snapshot", "-c", "64M", "-f", "1024", "-i", "/dev/vda1", "/mnt/c", "7"});
    CHECK(full.cache_size == 64 * MiB);
    CHECK(full.fallocate_size == 1024 * MiB); // -f counts in MiB
    CHECK(full.ignore_errors);
    CHECK(full.devices == std::vector<setup_target>{{"/dev/vda1", "/mnt/c", 7}});

    auto long_options = parse_as<setup_snapshot_command>({"setup-snapshot", "/dev/vda1", "/mnt/c",
                                                          "7", "--cache-size=4096", "--cow-size",
                                                          "2G", "--ignore-errors"});
    CHECK(long_options ==
          setup_snapshot_command{{{"/dev/vda1", "/mnt/c", 7}}, 4096, 2048 * MiB, true});

    auto sticky = parse_as<setup_snapshot_command>({"setup-snapshot", "-ic1K", "a", "b", "1"});
    CHECK(sticky.ignore_errors);
    CHECK(sticky.cache_size == 1024);

    auto after_dashes =
        parse_as<setup_snapshot_command>({"setup-snapshot", "--", "-weird", "b", "1"});
    REQUIRE(after_dashes.devices.size() == 1);
    CHECK(after_dashes.devices[0].bdev == "-weird");
}

TEST_CASE("reload-snapshot and reload-incremental", "[cli]") {
    CHECK(parse_as<reload_snapshot_command>({"reload-snapshot", "/dev/vda1", "/.cow", "1"}) ==
          reload_snapshot_command{"/dev/vda1", "/.cow", 1, 0, false});
    CHECK(parse_as<reload_incremental_command>(
              {"reload-incremental", "-c", "8M", "-i", "/dev/vda1", "/.cow", "9"}) ==
          reload_incremental_command{"/dev/vda1", "/.cow", 9, 8 * MiB, true});
    CHECK_THAT(refusal({"reload-snapshot", "-f", "10", "/dev/vda1", "/.cow", "1"}).what(),
               Contains("unrecognised option '-f'"));
}

TEST_CASE("commands taking just a minor", "[cli]") {
    CHECK(parse_as<destroy_command>({"destroy", "0"}) == destroy_command{0});
    CHECK(parse_as<transition_to_incremental_command>({"transition-to-incremental", "12"}) ==
          transition_to_incremental_command{12});
    CHECK_THAT(refusal({"destroy"}).what(), StartsWith("missing <minor>"));
    CHECK_THAT(refusal({"transition-to-incremental", "1", "2"}).what(),
               StartsWith("unexpected argument '2'"));
}

TEST_CASE("transition-to-snapshot", "[cli]") {
    CHECK(parse_as<transition_to_snapshot_command>({"transition-to-snapshot", "/mnt/c2", "3"}) ==
          transition_to_snapshot_command{{{"/mnt/c2", 3}}, 0});
    CHECK(parse_as<transition_to_snapshot_command>(
              {"transition-to-snapshot", "-f", "100", "/mnt/c2", "3"}) ==
          transition_to_snapshot_command{{{"/mnt/c2", 3}}, 100 * MiB});
    CHECK_THAT(refusal({"transition-to-snapshot", "3"}).what(), StartsWith("missing <minor>"));
    CHECK_THAT(refusal({"transition-to-snapshot"}).what(), StartsWith("missing <cow>"));
}

TEST_CASE("reconfigure needs -c", "[cli]") {
    CHECK(parse_as<reconfigure_command>({"reconfigure", "-c", "1G", "5"}) ==
          reconfigure_command{5, 1ull << 30});
    usage_error missing = refusal({"reconfigure", "5"});
    CHECK_THAT(missing.what(), StartsWith("missing -c SIZE"));
    CHECK(missing.status() == exit_usage);
}

TEST_CASE("expand-cow-file takes a size in MiB, a minor and an optional path", "[cli]") {
    CHECK(parse_as<expand_cow_file_command>({"expand-cow-file", "512", "2"}) ==
          expand_cow_file_command{512 * MiB, 2, ""});
    CHECK(parse_as<expand_cow_file_command>({"expand-cow-file", "1G", "0", "/mnt/x/cow"}) ==
          expand_cow_file_command{1ull << 30, 0, "/mnt/x/cow"});
    // 0: grow nothing, name the usable parts of earlier growth again.
    CHECK(parse_as<expand_cow_file_command>({"expand-cow-file", "0", "2"}) ==
          expand_cow_file_command{0, 2, ""});
    CHECK(parse_as<expand_cow_file_command>({"expand-cow-file", "0M", "7", "cow"}) ==
          expand_cow_file_command{0, 7, "cow"});
    CHECK(parse_as<expand_cow_file_command>({"expand-cow-file", "4096B", "1"}) ==
          expand_cow_file_command{4096, 1, ""});
    CHECK_THAT(refusal({"expand-cow-file", "-1", "2"}).what(), StartsWith("size: "));
    CHECK_THAT(refusal({"expand-cow-file", "2", "1", "c", "d"}).what(),
               StartsWith("unexpected argument 'd'"));
    CHECK_THAT(refusal({"expand-cow-file"}).what(), StartsWith("missing <size>"));
    CHECK_THAT(refusal({"expand-cow-file", "lots", "2"}).what(), StartsWith("size: "));
    CHECK_THAT(refusal({"expand-cow-file", "5"}).what(), StartsWith("missing <minor>"));
    CHECK_THAT(refusal({"expand-cow-file", "5", "300"}).what(), Contains("out of range"));
}

TEST_CASE("missing and extra arguments are usage errors naming the command", "[cli]") {
    usage_error missing = refusal({"setup-snapshot", "/dev/vda1", "/mnt/c"});
    CHECK(missing.command() == "setup-snapshot");
    CHECK(missing.status() == exit_usage);
    CHECK(std::string(missing.what()) == "missing <minor> (see 'bsnapctl help setup-snapshot')");
    CHECK_THAT(refusal({"setup-snapshot"}).what(), StartsWith("missing <bdev>"));
    // A fourth argument starts a second device, which is then incomplete.
    CHECK_THAT(refusal({"setup-snapshot", "a", "b", "1", "extra"}).what(),
               StartsWith("device 2 is incomplete: missing <cow> <minor> after 'extra'"));
    CHECK_THAT(refusal({"info", "1", "2"}).what(), StartsWith("unexpected argument '2'"));
}

TEST_CASE("unknown commands and options", "[cli]") {
    usage_error none = refusal({});
    CHECK(none.command().empty());
    CHECK(std::string(none.what()) == "no command given (see 'bsnapctl help')");
    CHECK(std::string(refusal({"snapshot"}).what()) ==
          "unknown command 'snapshot' (see 'bsnapctl help')");
    CHECK(std::string(refusal({"--json"}).what()) ==
          "unknown option '--json' (see 'bsnapctl help')");
    CHECK_THAT(refusal({"destroy", "-x", "1"}).what(), StartsWith("unrecognised option '-x'"));
    CHECK_THAT(refusal({"info", "--js"}).what(), Contains("unrecognised option '--js'"));
    CHECK_THAT(refusal({"setup-snapshot", "-c"}).what(), Contains("required argument"));
    CHECK_THAT(refusal({"help", "nope"}).what(), StartsWith("unknown command 'nope'"));
    CHECK(refusal({"help", "nope"}).command() == "help");
}

TEST_CASE("minors out of range are EINVAL, non-numbers usage errors", "[cli]") {
    for (const char* bad : {"256", "1000", "-1", "99999999999999999999999"}) {
        usage_error e = refusal({"destroy", bad});
        CHECK(e.status() == EINVAL);
        CHECK(std::string(e.what()) ==
              std::string("minor ") + bad + " out of range [0, 256): Invalid argument");
    }
    CHECK(refusal({"info", "256", "--json"}).status() == EINVAL);
    CHECK(refusal({"setup-snapshot", "a", "b", "300"}).status() == EINVAL);
    for (const char* bad : {"abc", "3x", "", "1.0", " 1", "+1", "0x10"}) {
        usage_error e = refusal({"destroy", bad});
        CHECK(e.status() == exit_usage);
        CHECK(std::string(e.what()) == std::string("minor '") + bad + "' is not a number");
    }
}

TEST_CASE("bad sizes are usage errors naming the option", "[cli]") {
    usage_error e = refusal({"setup-snapshot", "-c", "64X", "a", "b", "1"});
    CHECK(e.status() == exit_usage);
    CHECK(std::string(e.what()) ==
          "--cache-size: invalid size '64X': unknown unit 'X' (use K, M, G or T)");
    CHECK_THAT(refusal({"setup-snapshot", "-f", "-5", "a", "b", "1"}).what(),
               StartsWith("--cow-size: invalid size '-5'"));
    CHECK_THAT(refusal({"transition-to-snapshot", "-f", "1.5G", "a", "1"}).what(),
               StartsWith("--cow-size: invalid size '1.5G'"));
    CHECK_THAT(refusal({"reconfigure", "-c", "99999999999999999999", "1"}).what(),
               Contains("too large"));
    CHECK_THAT(refusal({"setup-snapshot", "-f", "17592186044416", "a", "b", "1"}).what(),
               Contains("too large")); // 2^44 MiB is 2^64 bytes
    CHECK_THAT(refusal({"setup-snapshot", "-c", "1", "-c", "2", "a", "b", "1"}).what(),
               Contains("cannot be specified more than once"));
}

TEST_CASE("help texts list every command and the exit status", "[cli]") {
    std::string general = help_text();
    for (const char* name :
         {"version", "info", "get-free-minor", "setup-snapshot", "reload-snapshot",
          "reload-incremental", "destroy", "transition-to-incremental", "transition-to-snapshot",
          "reconfigure", "expand-cow-file", "help"}) {
        CHECK_THAT(general, Contains(std::string("\n  ") + name));
        CHECK_THAT(help_text(name), StartsWith(std::string("Usage: bsnapctl ") + name));
    }
    CHECK_THAT(general, Contains("64 (EX_USAGE)"));
    CHECK_THAT(help_text("setup-snapshot"), Contains("--cow-size"));
    CHECK_THAT(help_text("setup-snapshot"), Contains("Exit status"));
    // Growth: the new space is used only where the snapshot had it free.
    CHECK_THAT(
        help_text("expand-cow-file"),
        Contains("only where the snapshot's filesystem had it\nfree at the snapshot instant"));
    CHECK_THAT(help_text("expand-cow-file"), Contains("<size> 0 grows nothing"));
    CHECK_THROWS_AS(help_text("nope"), usage_error);
}

namespace {

// n devices of setup-snapshot, minors 0 .. n-1; or of transition-to-snapshot.
std::vector<std::string> setup_args(std::size_t n) {
    std::vector<std::string> args{"setup-snapshot"};
    for (std::size_t i = 0; i < n; i++) {
        args.push_back("/dev/d" + std::to_string(i));
        args.push_back("/mnt/" + std::to_string(i) + "/cow");
        args.push_back(std::to_string(i));
    }
    return args;
}

std::vector<std::string> transition_args(std::size_t n) {
    std::vector<std::string> args{"transition-to-snapshot"};
    for (std::size_t i = 0; i < n; i++) {
        args.push_back("/mnt/" + std::to_string(i) + "/cow");
        args.push_back(std::to_string(i));
    }
    return args;
}

} // namespace

TEST_CASE("setup-snapshot takes a group of devices, in order", "[cli][group]") {
    auto two = parse_as<setup_snapshot_command>({"setup-snapshot", "-c", "1M", "-f", "20", "-i",
                                                 "/dev/vda", "/mnt/a/c", "1", "/dev/vdb2",
                                                 "/mnt/b/c", "3"});
    CHECK(two ==
          setup_snapshot_command{
              {{"/dev/vda", "/mnt/a/c", 1}, {"/dev/vdb2", "/mnt/b/c", 3}}, MiB, 20 * MiB, true});
    // Options may come after the devices and apply to all of them.
    auto three = parse_as<setup_snapshot_command>(
        {"setup-snapshot", "a", "b", "9", "c", "d", "0", "e", "f", "255", "-f", "1"});
    CHECK(three.devices ==
          std::vector<setup_target>{{"a", "b", 9}, {"c", "d", 0}, {"e", "f", 255}});
    CHECK(three.fallocate_size == MiB);

    auto most = parse_as<setup_snapshot_command>(setup_args(BSNAP_MAX_GROUP));
    REQUIRE(most.devices.size() == BSNAP_MAX_GROUP);
    CHECK(most.devices.back() == setup_target{"/dev/d31", "/mnt/31/cow", 31});
}

TEST_CASE("transition-to-snapshot takes a group of devices, in order", "[cli][group]") {
    auto two = parse_as<transition_to_snapshot_command>(
        {"transition-to-snapshot", "-f", "8", "/mnt/a/c2", "1", "/mnt/b/c2", "3"});
    CHECK(two == transition_to_snapshot_command{{{"/mnt/a/c2", 1}, {"/mnt/b/c2", 3}}, 8 * MiB});
    auto most = parse_as<transition_to_snapshot_command>(transition_args(BSNAP_MAX_GROUP));
    CHECK(most.devices.size() == BSNAP_MAX_GROUP);
}

TEST_CASE("an incomplete device of a group is a usage error naming it", "[cli][group]") {
    usage_error one_short = refusal({"setup-snapshot", "a", "b", "1", "c", "d"});
    CHECK(one_short.status() == exit_usage);
    CHECK(one_short.command() == "setup-snapshot");
    CHECK(std::string(one_short.what()) ==
          "device 2 is incomplete: missing <minor> after 'd' (each device takes <bdev> <cow> "
          "<minor>) (see 'bsnapctl help setup-snapshot')");
    CHECK_THAT(refusal({"setup-snapshot", "a", "b", "1", "c", "d", "2", "e"}).what(),
               StartsWith("device 3 is incomplete: missing <cow> <minor> after 'e'"));
    usage_error transition = refusal({"transition-to-snapshot", "a", "1", "b"});
    CHECK(transition.status() == exit_usage);
    CHECK(std::string(transition.what()) ==
          "device 2 is incomplete: missing <minor> after 'b' (each device takes <cow> <minor>) "
          "(see 'bsnapctl help transition-to-snapshot')");
    // One device keeps its messages.
    CHECK_THAT(refusal({"transition-to-snapshot", "a"}).what(), StartsWith("missing <minor>"));
    // A minor of a later device is checked like the first one's.
    CHECK(refusal({"setup-snapshot", "a", "b", "1", "c", "d", "256"}).status() == EINVAL);
    CHECK(std::string(refusal({"transition-to-snapshot", "a", "1", "b", "x"}).what()) ==
          "minor 'x' is not a number");
}

TEST_CASE("a group has at most BSNAP_MAX_GROUP devices", "[cli][group]") {
    usage_error setup = refusal(setup_args(BSNAP_MAX_GROUP + 1));
    CHECK(setup.status() == EINVAL);
    CHECK(std::string(setup.what()) == "33 devices, at most 32 at one instant: Invalid argument");
    usage_error transition = refusal(transition_args(BSNAP_MAX_GROUP + 1));
    CHECK(transition.status() == EINVAL);
    CHECK_THAT(transition.what(), StartsWith("33 devices, at most 32"));
}

TEST_CASE("two devices of a group may not share a minor", "[cli][group]") {
    usage_error setup = refusal({"setup-snapshot", "a", "b", "4", "c", "d", "5", "e", "f", "4"});
    CHECK(setup.status() == EBUSY);
    CHECK(setup.command() == "setup-snapshot");
    CHECK(std::string(setup.what()) ==
          "minor 4 given twice (device 1 and device 3): Device or resource busy");
    usage_error transition = refusal({"transition-to-snapshot", "a", "7", "b", "7"});
    CHECK(transition.status() == EBUSY);
    CHECK(std::string(transition.what()) ==
          "minor 7 given twice (device 1 and device 2): Device or resource busy");
}

TEST_CASE("the help of group commands shows the repetition", "[cli][group]") {
    CHECK_THAT(help_text("setup-snapshot"),
               StartsWith("Usage: bsnapctl setup-snapshot [-c SIZE] [-f SIZE] [-i] <bdev> <cow> "
                          "<minor> [<bdev> <cow> <minor>]...\n"));
    CHECK_THAT(help_text("transition-to-snapshot"),
               StartsWith("Usage: bsnapctl transition-to-snapshot [-f SIZE] <cow> <minor> [<cow> "
                          "<minor>]...\n"));
    CHECK_THAT(help_text("setup-snapshot"), Contains("at one instant"));
    CHECK_THAT(help_text(), Contains("<bdev> <cow> <minor> [<bdev> <cow> <minor>]..."));
}
