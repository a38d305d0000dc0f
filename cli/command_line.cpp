#include "command_line.hpp"

#include <algorithm>
#include <boost/program_options.hpp>
#include <bsnap/size.hpp>
#include <cerrno>
#include <charconv>
#include <climits>
#include <functional>
#include <regex>
#include <sstream>
#include <system_error>
#include <uapi/bsnap.h>

namespace bsnap::ctl {

namespace po = boost::program_options;

usage_error::usage_error(std::string_view name, const std::string& message, int status)
    : std::runtime_error(message), command_(name), status_(status) {}

namespace {

// The options a command may take; one meaning per letter across commands.
enum option : unsigned {
    cache_size = 1u << 0,     // -c SIZE, optional
    cache_required = 1u << 1, // -c SIZE, required
    cow_size = 1u << 2,       // -f SIZE
    ignore_errors = 1u << 3,  // -i
    json = 1u << 4,           // --json
};

class parsed_args;

struct command_spec {
    std::string_view name;
    std::string_view synopsis; // after the name
    std::string_view summary;  // one line for the command list
    std::string_view details;  // for `help <command>`
    unsigned options;
    std::vector<std::string_view> required; // positional arguments, in order
    std::vector<std::string_view> optional; // after the required ones
    std::function<command(const parsed_args&)> build;
    // The required arguments may repeat, once per device of a group
    // snapshot (at most BSNAP_MAX_GROUP devices); no optional ones then.
    bool repeats = false;
};

const std::vector<command_spec>& command_specs();

// A command's arguments after Boost.Program_options, with typed accessors
// that turn bad values into usage errors naming the command.
class parsed_args {
  public:
    parsed_args(const command_spec& spec, po::variables_map values,
                std::vector<std::string> positionals)
        : spec_(spec), values_(std::move(values)), positionals_(std::move(positionals)) {}

    bool has(std::size_t index) const { return index < positionals_.size(); }
    const std::string& text(std::size_t index) const { return positionals_.at(index); }

    unsigned minor(std::size_t index) const {
        const std::string& arg = positionals_.at(index);
        long long value = 0;
        auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), value);
        bool is_integer = !arg.empty() && end == arg.data() + arg.size();
        if (!is_integer && ec != std::errc::result_out_of_range)
            throw usage_error(spec_.name, "minor '" + arg + "' is not a number");
        if (ec == std::errc::result_out_of_range || value < 0 || value >= BSNAP_MAX_MINORS)
            throw usage_error(spec_.name,
                              "minor " + arg + " out of range [0, " +
                                  std::to_string(BSNAP_MAX_MINORS) +
                                  "): " + std::generic_category().message(EINVAL),
                              EINVAL);
        return static_cast<unsigned>(value);
    }

    // The number of devices named: whole repetitions of the required arguments.
    std::size_t devices() const { return positionals_.size() / spec_.required.size(); }

    // Two devices of a group may not share a minor: the module would refuse
    // with EBUSY, so the command line does too (the exit status is the same).
    void refuse_duplicate_minors(const std::vector<unsigned>& minors) const {
        for (std::size_t i = 0; i < minors.size(); i++)
            for (std::size_t j = 0; j < i; j++)
                if (minors[i] == minors[j])
                    throw usage_error(spec_.name,
                                      "minor " + std::to_string(minors[i]) + " given twice (" +
                                          device_label(j) + " and " + device_label(i) +
                                          "): " + std::generic_category().message(EBUSY),
                                      EBUSY);
    }

    bool flag(const char* name) const { return values_.count(name) && values_[name].as<bool>(); }

    // A positional size; a bare number counts in default_unit. 0 is allowed.
    std::uint64_t size_at(std::size_t index, std::uint64_t default_unit) const {
        const std::string& arg = positionals_.at(index);
        try {
            return parse_size(arg, default_unit);
        } catch (const size_error& e) {
            throw usage_error(spec_.name, std::string(spec_.required.at(index)) + ": " + e.what());
        }
    }

    // Bytes; a bare number counts in default_unit.
    std::uint64_t size(const char* name, std::uint64_t default_unit) const {
        if (!values_.count(name))
            return 0;
        try {
            return parse_size(values_[name].as<std::string>(), default_unit);
        } catch (const size_error& e) {
            throw usage_error(spec_.name, std::string("--") + name + ": " + e.what());
        }
    }

  private:
    static std::string device_label(std::size_t index) {
        return "device " + std::to_string(index + 1);
    }

    const command_spec& spec_;
    po::variables_map values_;
    std::vector<std::string> positionals_;
};

po::options_description describe_options(unsigned options) {
    po::options_description description("Options");
    auto add = description.add_options();
    if (options & (cache_size | cache_required))
        add("cache-size,c", po::value<std::string>()->value_name("SIZE"),
            "memory for the device's CoW metadata cache: bytes, or a number with K, M, G or "
            "T (default: the module's)");
    if (options & cow_size)
        add("cow-size,f", po::value<std::string>()->value_name("SIZE"),
            "size of the CoW file, allocated up front: MiB, or a number with K, M, G or T "
            "(default: 10 % of the device)");
    if (options & ignore_errors)
        add("ignore-errors,i", po::bool_switch(),
            "if the snapshot fails, its image stays readable instead of returning EIO");
    if (options & json)
        add("json", po::bool_switch(), "print JSON instead of text");
    add("help,h", "show this help");
    return description;
}

// "-1" is a (bad) minor, not an unknown option: hand it on as a positional.
std::vector<po::option> negative_numbers_are_positional(std::vector<std::string>& args) {
    static const std::regex negative("-[0-9]+");
    if (args.empty() || !std::regex_match(args.front(), negative))
        return {};
    po::option positional;
    positional.value.push_back(args.front());
    positional.original_tokens.push_back(args.front());
    positional.position_key = INT_MAX;
    args.erase(args.begin());
    return {positional};
}

bool asks_for_help(const std::vector<std::string>& args) {
    for (const auto& arg : args) {
        if (arg == "--")
            return false;
        if (arg == "--help" || arg == "-h")
            return true;
    }
    return false;
}

std::string hint(std::string_view name) {
    return " (see 'bsnapctl help" + (name.empty() ? "" : " " + std::string(name)) + "')";
}

const command_spec* find_spec(std::string_view name) {
    for (const auto& spec : command_specs())
        if (spec.name == name)
            return &spec;
    return nullptr;
}

// A group of devices: whole repetitions of the required arguments, at most
// BSNAP_MAX_GROUP of them.
void check_devices(const command_spec& spec, const std::vector<std::string>& positionals) {
    std::size_t per_device = spec.required.size();
    std::size_t devices = (positionals.size() + per_device - 1) / per_device;
    std::string each;
    for (auto name : spec.required)
        each += (each.empty() ? "<" : " <") + std::string(name) + ">";
    if (std::size_t given = positionals.size() % per_device; given != 0) {
        std::string missing;
        for (std::size_t i = given; i < per_device; i++)
            missing += (missing.empty() ? "<" : " <") + std::string(spec.required[i]) + ">";
        throw usage_error(spec.name, "device " + std::to_string(devices) +
                                         " is incomplete: missing " + missing + " after '" +
                                         positionals.back() + "' (each device takes " + each + ")" +
                                         hint(spec.name));
    }
    if (devices > BSNAP_MAX_GROUP)
        throw usage_error(spec.name,
                          std::to_string(devices) + " devices, at most " +
                              std::to_string(BSNAP_MAX_GROUP) +
                              " at one instant: " + std::generic_category().message(EINVAL),
                          EINVAL);
}

command parse_command(const command_spec& spec, const std::vector<std::string>& args) {
    if (asks_for_help(args))
        return help_command{std::string(spec.name)};

    po::options_description visible = describe_options(spec.options);
    po::options_description all;
    all.add(visible);
    all.add_options()("positional", po::value<std::vector<std::string>>());
    po::positional_options_description positional;
    positional.add("positional", -1);

    po::variables_map values;
    try {
        auto style =
            po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
        po::store(po::command_line_parser(args)
                      .options(all)
                      .positional(positional)
                      .style(style)
                      .extra_style_parser(negative_numbers_are_positional)
                      .run(),
                  values);
        po::notify(values);
    } catch (const po::error& e) {
        throw usage_error(spec.name, e.what() + hint(spec.name));
    }

    std::vector<std::string> positionals;
    if (values.count("positional"))
        positionals = values["positional"].as<std::vector<std::string>>();
    if (spec.repeats && positionals.size() > spec.required.size())
        check_devices(spec, positionals);
    else if (positionals.size() < spec.required.size())
        throw usage_error(spec.name, "missing <" + std::string(spec.required[positionals.size()]) +
                                         ">" + hint(spec.name));
    else if (positionals.size() > spec.required.size() + spec.optional.size())
        throw usage_error(spec.name, "unexpected argument '" +
                                         positionals[spec.required.size() + spec.optional.size()] +
                                         "'" + hint(spec.name));
    if ((spec.options & cache_required) && !values.count("cache-size"))
        throw usage_error(spec.name, "missing -c SIZE" + hint(spec.name));

    return spec.build(parsed_args(spec, std::move(values), std::move(positionals)));
}

// Both commands that start snapshots take a group of devices.
#define GROUP_TEXT                                                                                 \
    "Several devices (at most 32, distinct minors) are snapshotted at one instant:\n"              \
    "their filesystems are frozen in the order given (put a filesystem that lives\n"               \
    "on another one first), every snapshot starts, and they are thawed in reverse\n"               \
    "order; no write to any of them lies between two of the snapshots. The options\n"              \
    "apply to every device. If the module refuses one device, none changes, and\n"                 \
    "the error names it: 'member 2 (...)' is the second device given."
static_assert(BSNAP_MAX_GROUP == 32, "GROUP_TEXT names the limit");

const char* const minor_text = "<minor> is the number N of the image /dev/bsnapN, in [0, 256).";

const std::vector<command_spec>& command_specs() {
    static const std::vector<command_spec> specs = {
        {"version",
         "",
         "show bsnapctl's, the ABI's and the loaded module's versions",
         "Prints bsnapctl's version and ABI version, then the loaded module's.\n"
         "Fails with ENOENT if the module is not loaded, with EPROTO if its ABI differs.",
         0,
         {},
         {},
         [](const parsed_args&) -> command { return version_command{}; }},
        {"info",
         "[--json] [<minor>]",
         "show the module's devices, or one device",
         "Without <minor>: the module's version and every traced device (from\n"
         "/proc/bsnap-info). With <minor>: that device's state, paths, sizes, changed\n"
         "blocks and stored error (from the module's info call).",
         json,
         {},
         {"minor"},
         [](const parsed_args& a) -> command {
             info_command cmd;
             if (a.has(0))
                 cmd.minor = a.minor(0);
             cmd.json = a.flag("json");
             return cmd;
         }},
        {"status",
         "[--json]",
         "show every traced device in a table",
         "One line per traced device: minor, block device, state (active, dormant,\n"
         "unverified, failed), mode, CoW file, CoW use, changed blocks and stored error\n"
         "(from /proc/bsnap-info). --json prints the same document as info --json.",
         json,
         {},
         {},
         [](const parsed_args& a) -> command { return status_command{a.flag("json")}; }},
        {"get-free-minor",
         "",
         "print the lowest unused minor",
         "Prints the lowest free minor.",
         0,
         {},
         {},
         [](const parsed_args&) -> command { return get_free_minor_command{}; }},
        {"setup-snapshot",
         "[-c SIZE] [-f SIZE] [-i] <bdev> <cow> <minor> [<bdev> <cow> <minor>]...",
         "start tracking devices with a snapshot of them now",
         "Starts tracking the block device <bdev>, whose filesystem must be mounted\n"
         "read-write, and takes a snapshot: /dev/bsnap<minor> shows <bdev> as it is now.\n"
         "<cow> is the CoW file to create on that filesystem (a path from here; bsnapctl\n"
         "makes it absolute).\n"
         "\n" GROUP_TEXT,
         cache_size | cow_size | ignore_errors,
         {"bdev", "cow", "minor"},
         {},
         [](const parsed_args& a) -> command {
             setup_snapshot_command cmd{
                 {}, a.size("cache-size", 1), a.size("cow-size", mib), a.flag("ignore-errors")};
             std::vector<unsigned> minors;
             for (std::size_t i = 0; i < a.devices(); i++) {
                 cmd.devices.push_back({a.text(3 * i), a.text(3 * i + 1), a.minor(3 * i + 2)});
                 minors.push_back(cmd.devices.back().minor);
             }
             a.refuse_duplicate_minors(minors);
             return cmd;
         },
         true},
        {"reload-snapshot",
         "[-c SIZE] [-i] <bdev> <cow> <minor>",
         "re-attach a snapshot after a reboot",
         "Re-attaches the snapshot kept in <cow> to <bdev> after a reboot, before the\n"
         "filesystem is mounted; it stays unverified until the first mount. <cow> is the\n"
         "CoW file's path relative to the filesystem's mount point.",
         cache_size | ignore_errors,
         {"bdev", "cow", "minor"},
         {},
         [](const parsed_args& a) -> command {
             return reload_snapshot_command{a.text(0), a.text(1), a.minor(2),
                                            a.size("cache-size", 1), a.flag("ignore-errors")};
         }},
        {"reload-incremental",
         "[-c SIZE] [-i] <bdev> <cow> <minor>",
         "re-attach incremental tracking after a reboot",
         "Re-attaches the incremental tracking kept in <cow> to <bdev> after a reboot,\n"
         "before the filesystem is mounted; it stays unverified until the first mount.\n"
         "<cow> is the CoW file's path relative to the filesystem's mount point.",
         cache_size | ignore_errors,
         {"bdev", "cow", "minor"},
         {},
         [](const parsed_args& a) -> command {
             return reload_incremental_command{a.text(0), a.text(1), a.minor(2),
                                               a.size("cache-size", 1), a.flag("ignore-errors")};
         }},
        {"destroy",
         "<minor>",
         "stop tracking and remove /dev/bsnap<minor>",
         "Stops tracking the device and removes /dev/bsnap<minor>; clears a stored error.",
         0,
         {"minor"},
         {},
         [](const parsed_args& a) -> command { return destroy_command{a.minor(0)}; }},
        {"transition-to-incremental",
         "<minor>",
         "drop the snapshot, keep tracking changes",
         "Ends the snapshot on <minor>: its copied data is dropped, the change map is\n"
         "kept, and the device goes on recording changed blocks.",
         0,
         {"minor"},
         {},
         [](const parsed_args& a) -> command {
             return transition_to_incremental_command{a.minor(0)};
         }},
        {"transition-to-snapshot",
         "[-f SIZE] <cow> <minor> [<cow> <minor>]...",
         "take a new snapshot of incremental devices",
         "Takes a new snapshot of the incremental device <minor> into the new CoW file\n"
         "<cow> (same chain UUID, seqid + 1). The old CoW file keeps the blocks changed\n"
         "since the previous snapshot, for update-img.\n"
         "\n" GROUP_TEXT,
         cow_size,
         {"cow", "minor"},
         {},
         [](const parsed_args& a) -> command {
             transition_to_snapshot_command cmd{{}, a.size("cow-size", mib)};
             std::vector<unsigned> minors;
             for (std::size_t i = 0; i < a.devices(); i++) {
                 cmd.devices.push_back({a.text(2 * i), a.minor(2 * i + 1)});
                 minors.push_back(cmd.devices.back().minor);
             }
             a.refuse_duplicate_minors(minors);
             return cmd;
         },
         true},
        {"reconfigure",
         "-c SIZE <minor>",
         "change a device's cache size",
         "Changes the memory cache size of the traced device <minor>.",
         cache_required,
         {"minor"},
         {},
         [](const parsed_args& a) -> command {
             return reconfigure_command{a.minor(0), a.size("cache-size", 1)};
         }},
        {"expand-cow-file",
         "<size> <minor> [<cow>]",
         "grow the CoW file of a running snapshot",
         "Adds <size> (MiB, or a number with K, M, G or T) to the CoW file of the\n"
         "snapshot <minor> while it is in use, so that it does not fill up. The\n"
         "filesystem (ext4 or xfs) must be mounted read-write and have the space.\n"
         "\n"
         "The new space takes CoW data only where the snapshot's filesystem had it\n"
         "free at the snapshot instant: space freed since (a file deleted after the\n"
         "snapshot) still holds data the snapshot needs. bsnapctl finds it by mounting\n"
         "/dev/bsnap<minor> read-only where nothing else sees it and asking its free\n"
         "space (GETFSMAP), and prints how much of the new space became usable.\n"
         "\n"
         "<size> 0 grows nothing: it only names the usable parts of space added\n"
         "before, which a reload forgets. <cow> is the CoW file's path from here\n"
         "(default: the path the module reports, found under the device's mount\n"
         "point after a reload). bsnapd does this by itself when the module reports\n"
         "the file running low.",
         0,
         {"size", "minor"},
         {"cow"},
         [](const parsed_args& a) -> command {
             return expand_cow_file_command{a.size_at(0, mib), a.minor(1),
                                            a.has(2) ? a.text(2) : ""};
         }},
        {"cow-info",
         "[--json] <file>",
         "show a CoW file's header",
         "Shows the header of the CoW file <file>: format version, chain UUID, seqid,\n"
         "whether it is clean (closed properly; a file in use or left by a crash is\n"
         "not), superseded (a later snapshot of the chain exists) or index only, the\n"
         "device's size, its changed blocks and the file's size. Also reads a file in\n"
         "use. Exits with EBADMSG for a damaged file or one of an unknown format.",
         json,
         {"file"},
         {},
         [](const parsed_args& a) -> command {
             return cow_info_command{a.text(0), a.flag("json")};
         }},
        {"changed-blocks",
         "[--json] <file>",
         "list the runs of blocks a CoW file marks changed",
         "Lists the blocks that changed between the snapshot the CoW file <file> belongs\n"
         "to and the next one of its chain, as runs of consecutive blocks: one line\n"
         "'<first> <count>' per run, in blocks of the file's block size (4096 bytes),\n"
         "in increasing order. These are the blocks update-img copies; backup software\n"
         "can copy them itself from /dev/bsnap<minor>. EBUSY for the file a traced\n"
         "device still writes (run transition-to-snapshot first); EBADMSG for a damaged\n"
         "file, and for one not closed cleanly unless it is of version 4 (its write\n"
         "intent then gives a superset of the changes).",
         json,
         {"file"},
         {},
         [](const parsed_args& a) -> command {
             return changed_blocks_command{a.text(0), a.flag("json")};
         }},
        {"help",
         "[<command>]",
         "show this help, or a command's",
         "Shows the help.",
         0,
         {},
         {"command"},
         [](const parsed_args& a) -> command {
             help_command cmd{a.has(0) ? a.text(0) : ""};
             if (!cmd.topic.empty() && !find_spec(cmd.topic))
                 throw usage_error("help", "unknown command '" + cmd.topic + "'" + hint(""));
             return cmd;
         }},
    };
    return specs;
}

#undef GROUP_TEXT

std::string general_help() {
    std::ostringstream text;
    text << "Usage: bsnapctl <command> [options] [arguments]\n"
            "       bsnapctl help <command>   (or bsnapctl <command> --help)\n"
            "       bsnapctl --version\n"
            "\n"
            "Controls the bsnap module: block-level snapshots and changed-block tracking.\n"
            "\n"
            "Commands:\n";
    for (const auto& spec : command_specs()) {
        std::string usage = std::string(spec.name);
        if (!spec.synopsis.empty())
            usage += " " + std::string(spec.synopsis);
        text << "  " << usage << "\n      " << spec.summary << "\n";
    }
    text << "\n"
         << minor_text
         << "\n"
            "SIZE: a number with an optional unit K, M, G or T (powers of 1024); a bare\n"
            "number is bytes for -c and MiB for -f.\n"
            "\n"
            "Exit status: 0 on success; otherwise the errno of what failed, e.g. 2 (ENOENT)\n"
            "when the module is not loaded, 15 (ENOTBLK), 16 (EBUSY), 22 (EINVAL, also for\n"
            "a minor out of range); 64 (EX_USAGE) for a malformed command line; 70 for an\n"
            "internal error. Errors are one line on stderr:\n"
            "  bsnapctl: <command>: <message>: <error text>\n";
    return text.str();
}

} // namespace

command parse_command_line(const std::vector<std::string>& args) {
    if (args.empty())
        throw usage_error("", "no command given" + hint(""));
    const std::string& first = args.front();
    if (first == "--help" || first == "-h")
        return help_command{};
    if (first == "--version" || first == "-V")
        return version_command{true};
    if (first.starts_with("-"))
        throw usage_error("", "unknown option '" + first + "'" + hint(""));
    const command_spec* spec = find_spec(first);
    if (!spec)
        throw usage_error("", "unknown command '" + first + "'" + hint(""));
    return parse_command(*spec, std::vector<std::string>(args.begin() + 1, args.end()));
}

std::string help_text(std::string_view topic) {
    if (topic.empty())
        return general_help();
    const command_spec* spec = find_spec(topic);
    if (!spec)
        throw usage_error("help", "unknown command '" + std::string(topic) + "'" + hint(""));
    std::ostringstream text;
    text << "Usage: bsnapctl " << spec->name;
    if (!spec->synopsis.empty())
        text << " " << spec->synopsis;
    text << "\n\n" << spec->details << "\n";
    auto takes_minor = [](const std::vector<std::string_view>& names) {
        return std::find(names.begin(), names.end(), "minor") != names.end();
    };
    if (takes_minor(spec->required) || takes_minor(spec->optional))
        text << "\n" << minor_text << "\n";
    text << "\n"
         << describe_options(spec->options)
         << "\nExit status: 0 on success, the errno of a failure, 64 for a malformed command\n"
            "line (see 'bsnapctl help').\n";
    return text.str();
}

} // namespace bsnap::ctl
