#include <bsnap/device_state.hpp>
#include <catch2/catch.hpp>
#include <uapi/bsnap.h>

using namespace bsnap;

TEST_CASE("the elastio state values decode to mode and activity", "[state]") {
    CHECK(describe_state(0u) == "dormant incremental");
    CHECK(describe_state(1u) == "dormant snapshot");
    CHECK(describe_state(2u) == "active incremental");
    CHECK(describe_state(3u) == "active snapshot");
    CHECK(describe_state(4u) == "unverified incremental");
    CHECK(describe_state(5u) == "unverified snapshot");

    device_state state = decode_state(BSNAP_STATE_SNAPSHOT | BSNAP_STATE_ACTIVE);
    CHECK(state.mode == device_mode::snapshot);
    CHECK(state.activity == device_activity::active);
    CHECK_FALSE(state.failed);
    CHECK(state.unknown_bits == 0);
}

TEST_CASE("a failed device says so and keeps its mode", "[state]") {
    device_state state = decode_state(BSNAP_STATE_FAILED | BSNAP_STATE_SNAPSHOT);
    CHECK(state.failed);
    CHECK(state.mode == device_mode::snapshot);
    CHECK(state.activity == device_activity::dormant);
    CHECK(describe_state(state) == "failed dormant snapshot");
    CHECK(describe_state(BSNAP_STATE_FAILED | BSNAP_STATE_ACTIVE) == "failed active incremental");
}

TEST_CASE("unverified wins over active, unknown bits are shown", "[state]") {
    CHECK(decode_state(BSNAP_STATE_UNVERIFIED | BSNAP_STATE_ACTIVE).activity ==
          device_activity::unverified);
    CHECK(describe_state(0x30u | BSNAP_STATE_SNAPSHOT | BSNAP_STATE_ACTIVE) ==
          "active snapshot (unknown state bits 0x30)");
    CHECK(decode_state(0x100u).unknown_bits == 0x100u);
}

TEST_CASE("encode_state is the inverse of decode_state for valid states", "[state]") {
    for (std::uint32_t bits : {0u, 1u, 2u, 3u, 4u, 5u, 8u, 9u, 10u, 11u, 12u, 13u, 0x43u})
        CHECK(encode_state(decode_state(bits)) == bits);
}
