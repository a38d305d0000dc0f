// An owned file descriptor, closed on destruction.
#pragma once

#include <filesystem>
#include <sys/types.h>

namespace bsnap {

class unique_fd {
  public:
    unique_fd() noexcept = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
    unique_fd& operator=(unique_fd&& other) noexcept;
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

    // Gives up ownership without closing.
    int release() noexcept;
    // Closes the owned descriptor (if any) and takes ownership of fd.
    void reset(int fd = -1) noexcept;

  private:
    int fd_ = -1;
};

// open(2) with O_CLOEXEC added; throws std::system_error "open <path>: <strerror>".
unique_fd open_fd(const std::filesystem::path& path, int flags, mode_t mode = 0);

} // namespace bsnap
