#include "reload_command.hpp"

#include "log.hpp"
#include "state_keeper.hpp"

#include <bsnap/errors.hpp>
#include <bsnap/proc_info.hpp>
#include <cerrno>
#include <filesystem>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>

extern char** environ;

namespace bsnap::daemon {

void ensure_module_loaded() {
    if (std::filesystem::exists(proc_info_path))
        return;
    const char* argv[] = {"modprobe", "bsnap", nullptr};
    pid_t pid = 0;
    int err = ::posix_spawnp(&pid, "modprobe", nullptr, nullptr, const_cast<char**>(argv), environ);
    if (err != 0)
        throw errno_error(err, "run modprobe bsnap");
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            throw_errno("wait for modprobe bsnap");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw errno_error(ENOENT, "modprobe bsnap failed (status " + std::to_string(status) + ")");
    if (!std::filesystem::exists(proc_info_path))
        throw errno_error(ENOENT, "bsnap module not loaded after modprobe (no " +
                                      std::string(proc_info_path) + ")");
}

int reload_command(const options& opts, reload_scope scope) {
    const char* what = scope == reload_scope::root_only ? "reload-root" : "reload";
    bool corrupt = false;
    std::optional<state> s = load_or_quarantine(opts.state_file, &corrupt);
    if (corrupt)
        return EBADMSG;
    if (!s)
        return 0;
    auto relevant = [scope](const traced_device& d) {
        return scope == reload_scope::root_only ? d.root : !d.root;
    };
    bool any = false;
    for (const auto& d : s->devices)
        any = any || relevant(d);
    if (!any) {
        log_info(std::string(what) + ": nothing to reload");
        return 0;
    }

    std::vector<device_info> traced;
    try {
        if (opts.modprobe)
            ensure_module_loaded();
        traced = read_proc_info().devices;
    } catch (const std::system_error& e) {
        log_error(std::string(what) + ": " + e.what() +
                  ": no device is reloaded; their changes go untracked until they are");
        return e.code().value() > 0 && e.code().value() < 256 ? e.code().value() : EIO;
    }

    auto resolver = make_blkid_resolver();
    auto deadline = std::chrono::steady_clock::now() + opts.wait;
    reload_plan plan;
    for (;;) {
        plan = plan_reload(*s, scope, *resolver, traced);
        bool missing = false;
        for (const auto& skip : plan.skipped)
            missing = missing || skip.device_missing;
        if (!missing || std::chrono::steady_clock::now() >= deadline)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }

    int status = 0;
    for (const auto& skip : plan.skipped) {
        if (!skip.problem) {
            log_info(describe(skip.entry) + ": " + skip.reason);
            continue;
        }
        log_error(describe(skip.entry) + ": not reloaded: " + skip.reason);
        if (status == 0)
            status = skip.device_missing ? ENODEV : EINVAL;
    }
    control_device ctl;
    for (const auto& outcome :
         run_reload(plan, module_reload_call(ctl), module_destroy_call(ctl))) {
        if (outcome.snapshot_lost) {
            // Not a failure of the reload, but a backup to retry.
            log_warning(outcome.message);
            continue;
        }
        if (outcome.error == 0) {
            log_notice(outcome.message);
            continue;
        }
        log_error(outcome.message);
        if (status == 0)
            status = outcome.error < 256 ? outcome.error : EIO;
    }
    return status;
}

} // namespace bsnap::daemon
