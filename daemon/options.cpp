#include "options.hpp"

#include "state_file.hpp"

#include <boost/program_options.hpp>
#include <sstream>

namespace bsnap::daemon {

namespace po = boost::program_options;

namespace {

po::options_description describe() {
    po::options_description d("Options");
    d.add_options()("reload",
                    "reload every device of the state file but the root filesystem's, then exit")(
        "reload-root", "reload the root filesystem's device only (initramfs), then exit")(
        "sync-once", "bring the state file in line with the module once, then exit")(
        "state-file", po::value<std::string>()->value_name("PATH"),
        "the state file (default: $BSNAP_STATE_FILE, else /var/lib/bsnap/state.json)")(
        "interval", po::value<unsigned>()->value_name("SEC")->default_value(60),
        "re-read /proc/bsnap-info at least this often")(
        "stale-after", po::value<unsigned>()->value_name("SEC")->default_value(600),
        "warn about a device unverified or dormant for this long")(
        "wait", po::value<unsigned>()->value_name("SEC")->default_value(30),
        "reload: wait this long for missing devices to appear")("no-modprobe",
                                                                "reload: do not load the module")(
        "no-cow-grow", "do not grow a snapshot's CoW file when it runs low")(
        "cow-grow-percent", po::value<unsigned>()->value_name("N")->default_value(50),
        "grow a CoW file that runs low by N % of its size")(
        "cow-min-free-percent", po::value<unsigned>()->value_name("N")->default_value(10),
        "never grow a CoW file so far that its filesystem has less than N % available")(
        "version,V", "print the version")("help,h", "show this help");
    return d;
}

} // namespace

options parse_options(const std::vector<std::string>& args, const char* state_file_env) {
    po::variables_map values;
    try {
        po::store(po::command_line_parser(args)
                      .options(describe())
                      .style(po::command_line_style::default_style &
                             ~po::command_line_style::allow_guessing)
                      .run(),
                  values);
        po::notify(values);
    } catch (const po::error& e) {
        throw usage_error(e.what());
    }
    options o;
    int modes = 0;
    auto mode = [&](const char* name, run_mode m) {
        if (values.count(name)) {
            o.mode = m;
            ++modes;
        }
    };
    mode("reload", run_mode::reload);
    mode("reload-root", run_mode::reload_root);
    mode("sync-once", run_mode::sync_once);
    mode("version", run_mode::version);
    mode("help", run_mode::help);
    if (modes > 1)
        throw usage_error("--reload, --reload-root, --sync-once, --version and --help exclude "
                          "each other");
    if (values.count("state-file"))
        o.state_file = values["state-file"].as<std::string>();
    else if (state_file_env && *state_file_env)
        o.state_file = state_file_env;
    else
        o.state_file = default_state_file;
    o.interval = std::chrono::seconds(values["interval"].as<unsigned>());
    o.stale_after = std::chrono::seconds(values["stale-after"].as<unsigned>());
    o.wait = std::chrono::seconds(values["wait"].as<unsigned>());
    if (o.interval.count() == 0)
        throw usage_error("--interval must be at least 1 second");
    o.modprobe = !values.count("no-modprobe");
    o.cow_grow.enabled = !values.count("no-cow-grow");
    o.cow_grow.grow_percent = values["cow-grow-percent"].as<unsigned>();
    o.cow_grow.min_free_percent = values["cow-min-free-percent"].as<unsigned>();
    if (o.cow_grow.grow_percent == 0 || o.cow_grow.grow_percent > 1000)
        throw usage_error("--cow-grow-percent must be in [1, 1000]");
    if (o.cow_grow.min_free_percent > 99)
        throw usage_error("--cow-min-free-percent must be in [0, 99]");
    return o;
}

std::string usage_text() {
    std::ostringstream text;
    text << "Usage: bsnapd [options]                the daemon (bsnapd.service)\n"
            "       bsnapd --reload [options]       reload traced devices at boot\n"
            "       bsnapd --reload-root [options]  reload the root filesystem (initramfs)\n"
            "       bsnapd --sync-once [options]    update the state file once\n"
            "\n"
            "Keeps the state file of the devices bsnap traces, reloads them at boot before\n"
            "their filesystems are mounted, and follows mounts and module events.\n"
            "\n"
         << describe()
         << "\nExit status: 0 on success; for --reload and --reload-root the errno of the\n"
            "first device that could not be reloaded (117 EUCLEAN: the CoW file's chain is\n"
            "broken, take a full backup); 74 (EBADMSG) for a corrupt state file;\n"
            "64 for a malformed command line.\n";
    return text.str();
}

} // namespace bsnap::daemon
