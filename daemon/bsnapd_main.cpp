// bsnapd: the bsnap daemon. Not implemented yet: it will keep the state file
// of traced devices, reload them at boot, follow mounts and grow CoW files
// (see docs/ and the design). For now it only reports its version.
#include <bsnap/version.hpp>
#include <iostream>
#include <string_view>

int main(int argc, char** argv) {
    std::string_view arg = argc > 1 ? argv[1] : "";
    if (argc == 2 && (arg == "--version" || arg == "-V")) {
        std::cout << "bsnapd " << bsnap::tool_version() << " (ABI " << bsnap::abi_version << ")\n";
        return 0;
    }
    if (argc == 2 && (arg == "--help" || arg == "-h")) {
        std::cout << "Usage: bsnapd --version\n"
                     "The bsnap daemon is not implemented yet.\n";
        return 0;
    }
    std::cerr << "bsnapd: not implemented yet\n";
    return 1;
}
