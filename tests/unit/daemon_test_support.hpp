// Helpers of bsnapd's unit tests: a temporary directory, a resolver that
// knows a fixed set of devices, a log capture, and sample state entries.
#pragma once

#include "device_identity.hpp"
#include "log.hpp"
#include "state_file.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace bsnap::daemon::test {

struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        char pattern[] = "/tmp/bsnapd-unit-XXXXXX";
        REQUIRE(::mkdtemp(pattern) != nullptr);
        path = pattern;
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
    std::filesystem::path operator/(const std::string& name) const { return path / name; }
};

inline std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path) << text;
}

// Devices by identity part; identify() answers from the same table.
class fake_resolver : public device_resolver {
  public:
    std::map<std::string, std::string> by_uuid;     // fs uuid -> path
    std::map<std::string, std::string> by_partuuid; // partuuid -> path
    std::vector<std::string> calls;

    std::optional<std::string> resolve(const device_identity& id) override {
        calls.push_back(to_string(id));
        std::optional<std::string> a, b;
        if (auto it = by_uuid.find(id.fs_uuid); !id.fs_uuid.empty() && it != by_uuid.end())
            a = it->second;
        if (auto it = by_partuuid.find(id.partuuid);
            !id.partuuid.empty() && it != by_partuuid.end())
            b = it->second;
        if (a && b && *a != *b)
            throw resolution_error(to_string(id) + ": two devices");
        return a ? a : b;
    }

    device_identity identify(const std::string& device) override {
        device_identity id;
        for (const auto& [uuid, path] : by_uuid)
            if (path == device)
                id.fs_uuid = uuid;
        for (const auto& [uuid, path] : by_partuuid)
            if (path == device)
                id.partuuid = uuid;
        return id;
    }
};

// Collects log lines while alive.
struct log_capture {
    std::vector<std::pair<priority, std::string>> lines;
    log_sink previous;
    log_capture() {
        previous = set_log_sink(
            [this](priority p, const std::string& text) { lines.emplace_back(p, text); });
    }
    ~log_capture() { set_log_sink(previous); }
    bool has(priority p, const std::string& part) const {
        for (const auto& [lp, text] : lines)
            if (lp == p && text.find(part) != std::string::npos)
                return true;
        return false;
    }
};

inline traced_device sample_device(unsigned minor, const std::string& fs_uuid, bool root = false) {
    traced_device d;
    d.minor = minor;
    d.identity.fs_uuid = fs_uuid;
    d.mode = device_mode::incremental;
    d.cow = ".bsnap" + std::to_string(minor);
    d.chain_uuid = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, static_cast<uint8_t>(minor)};
    d.seqid = 3;
    d.cache_size = 0;
    d.root = root;
    d.device = "/dev/vd" + std::string(1, static_cast<char>('a' + minor));
    d.module_instance = "boot-a/100";
    return d;
}

} // namespace bsnap::daemon::test
