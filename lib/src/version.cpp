#include "bsnap/version.hpp"

#ifndef BSNAP_TOOL_VERSION
#error "BSNAP_TOOL_VERSION must be defined by the build (the CMake project version)"
#endif

namespace bsnap {

std::string_view tool_version() {
    return BSNAP_TOOL_VERSION;
}

} // namespace bsnap
