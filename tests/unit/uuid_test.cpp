#include <bsnap/uuid.hpp>
#include <catch2/catch.hpp>

using namespace bsnap;

namespace {
const uuid sample = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                     0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
}

TEST_CASE("uuids format as 8-4-4-4-12 lower-case hex", "[uuid]") {
    CHECK(format_uuid(sample) == "00112233-4455-6677-8899-aabbccddeeff");
    CHECK(format_uuid(uuid{}) == "00000000-0000-0000-0000-000000000000");
    CHECK(is_nil(uuid{}));
    CHECK_FALSE(is_nil(sample));
}

TEST_CASE("uuids parse in dashed and bare form", "[uuid]") {
    CHECK(parse_uuid("00112233-4455-6677-8899-aabbccddeeff") == sample);
    CHECK(parse_uuid("00112233-4455-6677-8899-AABBCCDDEEFF") == sample);
    CHECK(parse_uuid("00112233445566778899aabbccddeeff") == sample);
    CHECK_FALSE(parse_uuid(""));
    CHECK_FALSE(parse_uuid("00112233-4455-6677-8899-aabbccddeef"));  // too short
    CHECK_FALSE(parse_uuid("0011223-34455-6677-8899-aabbccddeeff")); // dash misplaced
    CHECK_FALSE(parse_uuid("00112233-4455-6677-8899-aabbccddeefg")); // not hex
    CHECK_FALSE(parse_uuid("00112233x4455-6677-8899-aabbccddeeff")); // not a dash
}
