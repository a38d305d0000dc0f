// bsnapd's command line.
//
//   bsnapd [--state-file PATH] [--interval SEC] [--stale-after SEC]   the daemon
//          [--no-cow-grow] [--cow-grow-percent N] [--cow-min-free-percent N]
//   bsnapd --reload [--state-file PATH] [--wait SEC] [--no-modprobe]   at boot
//   bsnapd --reload-root [--state-file PATH] [--wait SEC] [--no-modprobe]  initramfs
//   bsnapd --sync-once [--state-file PATH]   one sync of the state file, then exit
//   bsnapd --version | --help
//
// The state file defaults to $BSNAP_STATE_FILE, else /var/lib/bsnap/state.json.
#pragma once

#include "cow_grower.hpp"

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace bsnap::daemon {

enum class run_mode { daemon, reload, reload_root, sync_once, version, help };

struct options {
    run_mode mode = run_mode::daemon;
    std::filesystem::path state_file;
    std::chrono::seconds interval{60};     // periodic re-read of /proc/bsnap-info
    std::chrono::seconds stale_after{600}; // report unverified/dormant devices after
    std::chrono::seconds wait{30};         // reload: how long to wait for devices
    bool modprobe = true;
    cow_grow_options cow_grow; // the daemon, on a cow-low event
};

class usage_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// args: after the program name; state_file_env: $BSNAP_STATE_FILE or null.
options parse_options(const std::vector<std::string>& args, const char* state_file_env);

std::string usage_text();

} // namespace bsnap::daemon
