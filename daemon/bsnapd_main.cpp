// bsnapd: the bsnap daemon. Keeps the state file of traced devices
// (state_file.hpp) in step with the module, reloads devices at boot
// (--reload; --reload-root in the initramfs), and logs to stderr with
// journald priority prefixes. See options.hpp for the command line.
#include "event_loop.hpp"
#include "log.hpp"
#include "options.hpp"
#include "reload_command.hpp"
#include "state_keeper.hpp"

#include <bsnap/version.hpp>
#include <cstdlib>
#include <exception>
#include <iostream>

namespace {

using namespace bsnap::daemon;

int run(const options& opts) {
    switch (opts.mode) {
    case run_mode::version:
        std::cout << "bsnapd " << bsnap::tool_version() << " (ABI " << bsnap::abi_version << ")\n";
        return 0;
    case run_mode::help:
        std::cout << usage_text();
        return 0;
    case run_mode::reload:
        return reload_command(opts, reload_scope::all_but_root);
    case run_mode::reload_root:
        return reload_command(opts, reload_scope::root_only);
    case run_mode::sync_once:
    case run_mode::daemon:
        break;
    }
    auto resolver = make_blkid_resolver();
    keeper_options ko;
    ko.state_file = opts.state_file;
    ko.stale_after = opts.stale_after;
    state_keeper keeper(ko, *resolver);
    keeper.start();
    if (opts.mode == run_mode::sync_once)
        return keeper.sync("sync-once") ? 0 : 1;
    return run_event_loop(keeper, opts.interval, opts.cow_grow);
}

} // namespace

int main(int argc, char** argv) {
    try {
        options opts = parse_options(std::vector<std::string>(argv + 1, argv + argc),
                                     std::getenv("BSNAP_STATE_FILE"));
        return run(opts);
    } catch (const usage_error& e) {
        std::cerr << "bsnapd: " << e.what() << " (see bsnapd --help)\n";
        return 64;
    } catch (const std::system_error& e) {
        log_error(std::string("bsnapd: ") + e.what());
        int code = e.code().value();
        return code > 0 && code < 256 ? code : 70;
    } catch (const std::exception& e) {
        log_error(std::string("bsnapd: internal error: ") + e.what());
        return 70;
    }
}
