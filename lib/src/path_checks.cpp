#include "bsnap/path_checks.hpp"

#include "bsnap/errors.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sys/stat.h>
#include <uapi/bsnap.h>

namespace bsnap {

namespace {

// realpath(3); throws errno with the context.
std::string real_path(const std::string& path, const std::string& context) {
    std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(path.c_str(), nullptr),
                                                         &std::free);
    if (!resolved)
        throw_errno(context);
    return resolved.get();
}

} // namespace

std::string canonical_block_device(const std::string& path) {
    std::string resolved = real_path(path, "block device " + path);
    struct stat st;
    if (::stat(resolved.c_str(), &st) < 0)
        throw_errno("block device " + resolved);
    if (!S_ISBLK(st.st_mode))
        throw errno_error(ENOTBLK, path);
    check_path_length("block device", resolved);
    return resolved;
}

std::string canonical_cow_path(const std::string& path) {
    if (path.empty())
        throw errno_error(ENOENT, "cow file: empty path");
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        throw errno_error(EISDIR, "cow file " + path);

    std::filesystem::path cow(path);
    std::filesystem::path name = cow.filename();
    if (name.empty() || name == "." || name == "..")
        throw errno_error(EISDIR, "cow file " + path);
    std::filesystem::path directory = cow.parent_path();
    if (directory.empty())
        directory = ".";
    std::string resolved =
        real_path(directory.string(), "cow file's directory " + directory.string());
    if (::stat(resolved.c_str(), &st) < 0)
        throw_errno("cow file's directory " + resolved);
    if (!S_ISDIR(st.st_mode))
        throw errno_error(ENOTDIR, "cow file's directory " + directory.string());
    resolved = (std::filesystem::path(resolved) / name).string();
    check_path_length("cow file", resolved);
    return resolved;
}

void check_path_length(std::string_view what, const std::string& path) {
    if (path.size() + 1 > BSNAP_PATH_MAX)
        throw errno_error(ENAMETOOLONG, std::string(what) + " path too long (" +
                                            std::to_string(path.size()) + " bytes, at most " +
                                            std::to_string(BSNAP_PATH_MAX - 1) + ")");
}

} // namespace bsnap
