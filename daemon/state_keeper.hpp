// The daemon's work apart from its event loop: load the state file at start
// (a corrupt one is moved aside, loudly), bring it in line with the module
// on every event (sync), and report devices that stay unverified, dormant,
// failed or untraced.
#pragma once

#include "device_identity.hpp"
#include "observe.hpp"
#include "state_file.hpp"

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <string>

namespace bsnap::daemon {

// Reads the state file for `purpose` ("reload", "start"). Missing: none,
// with a notice. Corrupt or of an unknown version: the file is moved aside
// (quarantine_state), an error says that nothing is trusted from it and that
// the devices it listed need a new setup and a full backup, and none is
// returned with *corrupt set.
std::optional<state> load_or_quarantine(const std::filesystem::path& path, bool* corrupt = nullptr);

struct keeper_options {
    std::filesystem::path state_file = default_state_file;
    system_paths paths;
    std::chrono::seconds stale_after{600};
};

class state_keeper {
  public:
    using clock = std::chrono::steady_clock;

    state_keeper(keeper_options options, device_resolver& resolver);

    // Loads the state file (load_or_quarantine) and syncs.
    void start();
    // Re-reads the module and the mounts; saves the state file if it changed;
    // logs what changed. Errors are logged, never thrown: the last saved
    // state stays the truth. Returns false if the state could not be saved.
    bool sync(const std::string& reason);
    // Warns once about each device unverified or dormant for longer than
    // stale_after (again after it changed state).
    void check_stale(clock::time_point now = clock::now());

    const state& current() const { return state_; }
    std::size_t traced_count() const { return traced_; }

  private:
    struct activity_record {
        std::string activity; // "active", "dormant", "unverified"
        clock::time_point since;
        bool reported = false;
    };

    void follow_activity(const observation& now);

    keeper_options options_;
    device_resolver& resolver_;
    state state_;
    bool on_disk_ = false; // the file holds state_
    std::size_t traced_ = 0;
    std::map<unsigned, activity_record> activity_;
    std::map<unsigned, int> errors_;         // errno last logged per minor
    std::set<std::string> reported_missing_; // entries logged as not traced
};

} // namespace bsnap::daemon
