#include "bsnap/unique_fd.hpp"

#include "bsnap/errors.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace bsnap {

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
    if (this != &other)
        reset(other.release());
    return *this;
}

int unique_fd::release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
}

void unique_fd::reset(int fd) noexcept {
    if (fd_ >= 0)
        ::close(fd_); // Linux releases the descriptor even when close fails.
    fd_ = fd;
}

unique_fd open_fd(const std::filesystem::path& path, int flags, mode_t mode) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0)
        throw_errno("open " + path.string());
    return unique_fd(fd);
}

} // namespace bsnap
