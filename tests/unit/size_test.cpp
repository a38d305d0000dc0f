#include <bsnap/size.hpp>
#include <catch2/catch.hpp>

using namespace bsnap;
using Catch::Matchers::Contains;

TEST_CASE("sizes parse with binary units", "[size]") {
    CHECK(parse_size("0") == 0);
    CHECK(parse_size("4096") == 4096);
    CHECK(parse_size("64M") == 64ull << 20);
    CHECK(parse_size("64m") == 64ull << 20);
    CHECK(parse_size("64MiB") == 64ull << 20);
    CHECK(parse_size("64MB") == 64ull << 20);
    CHECK(parse_size("1K") == 1024);
    CHECK(parse_size("3G") == 3ull << 30);
    CHECK(parse_size("2T") == 2ull << 40);
    CHECK(parse_size("512B") == 512);
    CHECK(parse_size("15E") == 15ull << 60);
}

TEST_CASE("a bare number counts in the default unit", "[size]") {
    CHECK(parse_size("1024", mib) == 1024ull << 20); // elastio's -f is in MB
    CHECK(parse_size("2G", mib) == 2ull << 30);      // an explicit unit wins
    CHECK(parse_size("10B", mib) == 10);
}

TEST_CASE("bad sizes give clear errors", "[size]") {
    CHECK_THROWS_WITH(parse_size(""), "invalid size '': empty");
    CHECK_THROWS_WITH(parse_size("64X"), "invalid size '64X': unknown unit 'X' (use K, M, G or T)");
    CHECK_THROWS_WITH(parse_size("M"), Contains("expected a non-negative integer"));
    CHECK_THROWS_WITH(parse_size("-5"), Contains("expected a non-negative integer"));
    CHECK_THROWS_WITH(parse_size("1.5G"), Contains("unknown unit '.5G'"));
    CHECK_THROWS_WITH(parse_size(" 5"), Contains("expected a non-negative integer"));
    CHECK_THROWS_WITH(parse_size("5 M"), Contains("unknown unit ' M'"));
    CHECK_THROWS_WITH(parse_size("64MiBs"), Contains("unknown unit 'MiBs'"));
    CHECK_THROWS_AS(parse_size("64X"), size_error);
}

TEST_CASE("sizes that overflow 64 bits are refused", "[size]") {
    CHECK(parse_size("18446744073709551615") == UINT64_MAX);
    CHECK_THROWS_WITH(parse_size("18446744073709551616"), Contains("too large"));
    CHECK_THROWS_WITH(parse_size("16E"), Contains("too large"));
    CHECK_THROWS_WITH(parse_size("16384P"), Contains("too large"));
    CHECK_THROWS_WITH(parse_size("17592186044416", mib), Contains("too large"));
}

TEST_CASE("sizes format with binary units", "[size]") {
    CHECK(format_size(0) == "0 B");
    CHECK(format_size(512) == "512 B");
    CHECK(format_size(1024) == "1 KiB");
    CHECK(format_size(64ull << 20) == "64 MiB");
    CHECK(format_size(3ull << 29) == "1.5 GiB");
    CHECK(format_size((1ull << 20) - 1) == "1.0 MiB"); // rounds up into the next unit
    CHECK(format_size(1536 + 51) == "1.5 KiB");
    CHECK(format_size(UINT64_MAX) == "16.0 EiB");
}
