// The largest single allocation through operator new since reset(): a test
// that a refused file cost no large allocation (allocation_probe.cpp
// replaces the global operator new of the unit test binary).
#pragma once

#include <cstddef>

namespace bsnap_test {

struct allocation_probe {
    allocation_probe() { reset(); }
    static void reset();
    static std::size_t largest();
};

} // namespace bsnap_test
