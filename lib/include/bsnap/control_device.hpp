// /dev/bsnap-ctl: the module's ioctls as typed calls.
//
// Each call fills the struct's 'size' and passes paths as user pointers; the
// arguments go to the kernel unchecked (the kernel validates them; see
// path_checks.hpp for the checks a tool makes first). Errors are
// std::system_error with the kernel's errno; what() names the object
// ("minor 3: Device or resource busy"), the caller names the operation.
#pragma once

#include "bsnap/device_info.hpp"
#include "bsnap/unique_fd.hpp"

#include <cstdint>
#include <filesystem>
#include <string>

namespace bsnap {

inline constexpr const char* control_device_path = "/dev/" BSNAP_CTL_NAME;

struct module_version {
    std::uint32_t abi_version = 0;
    std::string version;
};

// setup-snapshot, reload-snapshot, reload-incremental.
struct setup_params {
    std::string bdev; // block device path
    std::string cow;  // CoW file: absolute for setup, relative to the mount point for reload
    unsigned minor = 0;
    std::uint64_t cache_size = 0;     // bytes; 0 = module default
    std::uint64_t fallocate_size = 0; // bytes of the CoW file (setup); 0 = default (10 %)
    bool ignore_errors = false;       // reads of a failed snapshot do not return EIO
};

class control_device {
  public:
    // Opens the device. ENOENT throws "bsnap module not loaded (no <path>)",
    // other errors "open <path>: <strerror>".
    explicit control_device(const std::filesystem::path& path = control_device_path);

    module_version version();
    void setup_snapshot(const setup_params& params);
    void reload_snapshot(const setup_params& params);
    void reload_incremental(const setup_params& params);
    void destroy(unsigned minor);
    void transition_to_incremental(unsigned minor);
    // cow: absolute path of the new CoW file; fallocate_size in bytes, 0 = default.
    void transition_to_snapshot(unsigned minor, const std::string& cow,
                                std::uint64_t fallocate_size = 0);
    void reconfigure(unsigned minor, std::uint64_t cache_size);
    // Grows the CoW file of snapshot <minor> by grow_bytes (rounded up to 4 KiB);
    // cow is that file's path as seen from here (opened read-only and checked
    // by the module against the file it holds).
    void expand_cow(unsigned minor, const std::filesystem::path& cow, std::uint64_t grow_bytes);
    device_info info(unsigned minor);
    unsigned get_free_minor();

    const std::filesystem::path& path() const { return path_; }
    int fd() const { return fd_.get(); }

  private:
    void setup(unsigned long request, const setup_params& params);
    void call(unsigned long request, void* arg, const std::string& context);

    std::filesystem::path path_;
    unique_fd fd_;
};

} // namespace bsnap
