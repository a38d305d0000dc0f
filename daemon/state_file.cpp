#include "state_file.hpp"

#include <algorithm>
#include <bsnap/unique_fd.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <set>
#include <unistd.h>
#include <zlib.h>

namespace bsnap::daemon {

namespace {

using nlohmann::json;
using kind = state_file_error::kind;

const char* const format_name = "bsnapd-state";

std::string checksum_of(const json& document) {
    std::string text = document.dump();
    uLong crc = ::crc32(0L, Z_NULL, 0);
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(text.data()), static_cast<uInt>(text.size()));
    char hex[16];
    std::snprintf(hex, sizeof hex, "%08lx", crc & 0xffffffffUL);
    return std::string("crc32:") + hex;
}

json device_to_json(const traced_device& d) {
    return json{{"minor", d.minor},
                {"fs_uuid", d.identity.fs_uuid},
                {"partuuid", d.identity.partuuid},
                {"mode", to_string(d.mode)},
                {"cow", d.cow ? json(*d.cow) : json(nullptr)},
                {"chain_uuid", format_uuid(d.chain_uuid)},
                {"seqid", d.seqid},
                {"cache_size", d.cache_size},
                {"ignore_errors", d.ignore_errors},
                {"root", d.root},
                {"device", d.device},
                {"module_instance", d.module_instance}};
}

// Strict reading of one object: every key expected, none other.
class strict_object {
  public:
    strict_object(const json& j, std::string where) : j_(j), where_(std::move(where)) {
        if (!j_.is_object())
            fail("is a " + std::string(j_.type_name()) + ", expected an object");
    }

    [[noreturn]] void fail(const std::string& problem) const {
        throw state_file_error(kind::corrupt, where_ + ": " + problem);
    }

    const json& at(const char* key) {
        seen_.insert(key);
        auto it = j_.find(key);
        if (it == j_.end())
            fail(std::string("missing \"") + key + "\"");
        return *it;
    }

    std::string string(const char* key) {
        const json& v = at(key);
        if (!v.is_string())
            fail(std::string("\"") + key + "\" is not a string");
        return v.get<std::string>();
    }

    std::uint64_t number(const char* key, std::uint64_t max = UINT64_MAX) {
        const json& v = at(key);
        if (!v.is_number_unsigned() || v.get<std::uint64_t>() > max)
            fail(std::string("\"") + key + "\" is " + v.dump() + ", expected an integer in [0, " +
                 std::to_string(max) + "]");
        return v.get<std::uint64_t>();
    }

    bool has(const char* key) const { return j_.contains(key); }

    bool boolean(const char* key) {
        const json& v = at(key);
        if (!v.is_boolean())
            fail(std::string("\"") + key + "\" is not true or false");
        return v.get<bool>();
    }

    // Every key of the object was read.
    void finish() const {
        for (const auto& item : j_.items())
            if (!seen_.count(item.key()))
                fail("unknown key \"" + item.key() + "\"");
    }

  private:
    const json& j_;
    std::string where_;
    std::set<std::string> seen_;
};

traced_device device_from_json(const json& j, const std::string& where) {
    strict_object o(j, where);
    traced_device d;
    d.minor = static_cast<unsigned>(o.number("minor", 255));
    d.identity.fs_uuid = o.string("fs_uuid");
    d.identity.partuuid = o.string("partuuid");
    if (d.identity.empty())
        o.fail("neither \"fs_uuid\" nor \"partuuid\"");
    std::string mode = o.string("mode");
    if (mode == "snapshot")
        d.mode = device_mode::snapshot;
    else if (mode == "incremental")
        d.mode = device_mode::incremental;
    else
        o.fail("\"mode\" is \"" + mode + "\", expected snapshot or incremental");
    const json& cow = o.at("cow");
    if (cow.is_string()) {
        d.cow = cow.get<std::string>();
        if (d.cow->empty() || d.cow->front() == '/')
            o.fail("\"cow\" is \"" + *d.cow + "\", expected a path relative to the filesystem");
    } else if (!cow.is_null()) {
        o.fail("\"cow\" is not a string or null");
    }
    auto chain = parse_uuid(o.string("chain_uuid"));
    if (!chain)
        o.fail("\"chain_uuid\" is not a UUID");
    d.chain_uuid = *chain;
    d.seqid = o.number("seqid");
    d.cache_size = o.number("cache_size");
    if (o.has("ignore_errors"))
        d.ignore_errors = o.boolean("ignore_errors");
    d.root = o.boolean("root");
    d.device = o.string("device");
    d.module_instance = o.string("module_instance");
    o.finish();
    return d;
}

void write_all(int fd, const std::string& data, const std::string& context) {
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno(context);
        done += static_cast<std::size_t>(n);
    }
}

void fsync_fd(int fd, const std::string& context) {
    if (::fsync(fd) < 0)
        throw_errno(context);
}

std::string read_whole(const std::filesystem::path& path) {
    unique_fd fd = open_fd(path, O_RDONLY);
    std::string data;
    char buffer[8192];
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno("read " + path.string());
        if (n == 0)
            return data;
        data.append(buffer, static_cast<std::size_t>(n));
    }
}

} // namespace

const traced_device* state::find(unsigned minor) const {
    for (const auto& d : devices)
        if (d.minor == minor)
            return &d;
    return nullptr;
}

std::string serialize_state(const state& s) {
    std::vector<traced_device> sorted = s.devices;
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.minor < b.minor; });
    json devices = json::array();
    for (const auto& d : sorted)
        devices.push_back(device_to_json(d));
    json document = {
        {"format", format_name}, {"version", state_file_version}, {"devices", devices}};
    document["checksum"] = checksum_of(document);
    return document.dump(2) + "\n";
}

state parse_state(std::string_view text, const std::string& source) {
    json document;
    try {
        document = json::parse(text);
    } catch (const json::parse_error& e) {
        throw state_file_error(kind::corrupt, source + ": not JSON (" + e.what() + ")");
    }
    strict_object o(document, source);
    if (o.string("format") != format_name)
        o.fail("\"format\" is not \"" + std::string(format_name) + "\"");
    const json& version = o.at("version");
    if (!version.is_number_integer())
        o.fail("\"version\" is not an integer");
    if (version.get<std::int64_t>() != state_file_version)
        throw state_file_error(kind::version_unsupported, source + ": version " + version.dump() +
                                                              ", this bsnapd reads version " +
                                                              std::to_string(state_file_version));
    std::string checksum = o.string("checksum");
    json without = document;
    without.erase("checksum");
    std::string computed = checksum_of(without);
    if (checksum != computed)
        o.fail("checksum mismatch (file says " + checksum + ", contents give " + computed + ")");
    const json& devices = o.at("devices");
    if (!devices.is_array())
        o.fail("\"devices\" is not an array");
    o.finish();

    state s;
    std::set<unsigned> minors;
    for (std::size_t i = 0; i < devices.size(); ++i) {
        std::string where = source + ": devices[" + std::to_string(i) + "]";
        traced_device d = device_from_json(devices[i], where);
        if (!minors.insert(d.minor).second)
            throw state_file_error(kind::corrupt,
                                   where + ": minor " + std::to_string(d.minor) + " appears twice");
        s.devices.push_back(std::move(d));
    }
    return s;
}

std::optional<state> load_state(const std::filesystem::path& path) {
    std::string text;
    try {
        text = read_whole(path);
    } catch (const std::system_error& e) {
        if (e.code() == std::errc::no_such_file_or_directory)
            return std::nullopt;
        throw;
    }
    return parse_state(text, path.string());
}

void save_state(const std::filesystem::path& path, const state& s, const before_rename_hook& hook) {
    std::filesystem::path directory = path.parent_path();
    if (directory.empty())
        directory = ".";
    std::error_code ec;
    std::filesystem::create_directories(directory, ec);
    if (ec)
        throw errno_error(ec.value(), "create directory " + directory.string());

    std::filesystem::path temporary = path;
    temporary += ".tmp";
    std::string text = serialize_state(s);
    {
        unique_fd fd = open_fd(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        write_all(fd.get(), text, "write " + temporary.string());
        fsync_fd(fd.get(), "fsync " + temporary.string());
        if (::close(fd.release()) < 0)
            throw_errno("close " + temporary.string());
    }
    if (hook)
        hook(temporary);
    if (::rename(temporary.c_str(), path.c_str()) < 0)
        throw_errno("rename " + temporary.string() + " to " + path.string());
    unique_fd dir = open_fd(directory, O_RDONLY | O_DIRECTORY);
    fsync_fd(dir.get(), "fsync directory " + directory.string());
}

std::filesystem::path quarantine_state(const std::filesystem::path& path) {
    std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm utc{};
    ::gmtime_r(&now, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
    for (int n = 0;; ++n) {
        std::filesystem::path target = path;
        target += ".corrupt-" + std::string(stamp);
        if (n > 0)
            target += "." + std::to_string(n);
        // link + unlink: never replaces an existing file (rename would).
        if (::link(path.c_str(), target.c_str()) == 0) {
            if (::unlink(path.c_str()) < 0)
                throw_errno("remove " + path.string());
            return target;
        }
        if (errno != EEXIST)
            throw_errno("move " + path.string() + " aside to " + target.string());
    }
}

} // namespace bsnap::daemon
