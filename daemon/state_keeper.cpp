#include "state_keeper.hpp"

#include "log.hpp"
#include "reconcile.hpp"
#include "reload.hpp"

#include <bsnap/device_info_text.hpp>
#include <bsnap/device_state.hpp>

namespace bsnap::daemon {

std::optional<state> load_or_quarantine(const std::filesystem::path& path, bool* corrupt) {
    if (corrupt)
        *corrupt = false;
    try {
        std::optional<state> s = load_state(path);
        if (!s)
            log_notice("no state file " + path.string() +
                       ": no device is known from before (if devices were traced before, they "
                       "need a new setup and a full backup)");
        return s;
    } catch (const state_file_error& e) {
        if (corrupt)
            *corrupt = true;
        std::string aside;
        try {
            aside = "moved aside to " + quarantine_state(path).string();
        } catch (const std::exception& q) {
            aside = "could not be moved aside (" + std::string(q.what()) + ")";
        }
        log_error(std::string("STATE FILE UNUSABLE: ") + e.what() + "; " + aside +
                  ". Nothing is reloaded from it. Every device it listed is no longer tracked "
                  "across reboots: set each up again (bsnapctl setup-snapshot) and take a FULL "
                  "backup; an incremental from it would be wrong.");
        return std::nullopt;
    }
}

state_keeper::state_keeper(keeper_options options, device_resolver& resolver)
    : options_(std::move(options)), resolver_(resolver) {}

void state_keeper::start() {
    bool corrupt = false;
    std::optional<state> loaded = load_or_quarantine(options_.state_file, &corrupt);
    if (loaded) {
        state_ = std::move(*loaded);
        on_disk_ = true;
        log_info("state file " + options_.state_file.string() + ": " +
                 std::to_string(state_.devices.size()) + " devices");
    }
    sync("start");
}

bool state_keeper::sync(const std::string& reason) {
    observation now;
    try {
        now = observe(options_.paths, resolver_);
    } catch (const std::exception& e) {
        log_error("cannot read the module's state (" + reason + "): " + e.what());
        return true;
    }
    reconcile_result result = reconcile(state_, now);
    for (const auto& change : result.changes)
        log_notice(change);
    for (const auto& warning : result.warnings)
        log_warning(warning);
    follow_activity(now);

    bool ok = true;
    if (!on_disk_ || !(result.next == state_)) {
        try {
            save_state(options_.state_file, result.next);
            on_disk_ = true;
        } catch (const std::exception& e) {
            log_error("cannot save the state file: " + std::string(e.what()) +
                      "; the previous one stays");
            ok = false;
        }
    }
    state_ = std::move(result.next);
    traced_ = now.devices.size();

    if (now.module_loaded) {
        for (const auto& entry : state_.devices) {
            bool traced = false;
            for (const auto& d : now.devices)
                traced = traced || d.info.minor == entry.minor;
            std::string key = std::to_string(entry.minor) + "/" + entry.module_instance;
            if (traced || !reported_missing_.insert(key).second)
                continue;
            log_error(describe(entry) +
                      ": in the state file but not traced by the module (its reload failed or "
                      "did not run): its changes are not tracked; reload it before its "
                      "filesystem is mounted, or destroy it, set it up again and take a full "
                      "backup");
        }
    }
    return ok;
}

void state_keeper::follow_activity(const observation& now) {
    clock::time_point t = clock::now();
    std::map<unsigned, activity_record> next;
    for (const auto& d : now.devices) {
        device_state st = d.info.decoded_state();
        std::string activity = to_string(st.activity);
        auto old = activity_.find(d.info.minor);
        if (old != activity_.end() && old->second.activity == activity)
            next[d.info.minor] = old->second;
        else
            next[d.info.minor] = {activity, t, false};

        int& logged = errors_[d.info.minor];
        if (d.info.error != 0 && d.info.error != logged) {
            traced_device entry;
            entry.minor = d.info.minor;
            entry.identity = d.identity;
            entry.device = d.info.bdev_path;
            log_error(describe(entry) + ": FAILED: " + describe_error(d.info.error) + ": " +
                      describe_state(d.info.state) +
                      "; no incremental can follow: destroy it, set it up again and take a "
                      "full backup");
        }
        logged = d.info.error;
    }
    activity_ = std::move(next);
}

void state_keeper::check_stale(clock::time_point now) {
    for (auto& [minor, record] : activity_) {
        if (record.reported || record.activity == "active" ||
            now - record.since < options_.stale_after)
            continue;
        record.reported = true;
        auto minutes = std::chrono::duration_cast<std::chrono::minutes>(now - record.since).count();
        const traced_device* entry = state_.find(minor);
        std::string name = entry ? describe(*entry) : "minor " + std::to_string(minor);
        if (record.activity == "unverified")
            log_warning(name + ": unverified for " + std::to_string(minutes) +
                        " min: reloaded but its filesystem has not been mounted read-write; "
                        "its CoW file is checked only at that mount");
        else
            log_warning(name + ": dormant for " + std::to_string(minutes) +
                        " min: its filesystem is unmounted or read-only (changes are still "
                        "tracked)");
    }
}

} // namespace bsnap::daemon
