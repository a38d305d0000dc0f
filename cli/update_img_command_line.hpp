// update-img's command line and failure reporting: pure functions, no device.
//
// Usage: update-img [-q] <snapdev> <old_cow>... <image>
// One <old_cow>, the previous snapshot's CoW file, or after a crash in
// snapshot mode several, oldest first (cow_chain.hpp): the first and the
// last argument are the snapshot and the image, all between are CoW files.
// Exit status: 0 on success; the errno of a failure (EBADMSG for a bad CoW
// file, EINVAL for another chain, a wrong order or a size mismatch, and the
// real errno of an I/O error); 64 (EX_USAGE) for a malformed command line;
// ENOMEM when memory runs out; 70 (EX_SOFTWARE) for anything else.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace bsnap::upd {

inline constexpr int exit_usage = 64;
inline constexpr int exit_internal = 70;

struct update_img_args {
    std::string snapshot;          // /dev/bsnapN
    std::vector<std::string> cows; // oldest first, the last the previous snapshot's
    std::string image;
    bool quiet = false;   // -q: no progress bar, no summary
    bool help = false;    // -h, --help
    bool version = false; // -V, --version

    bool operator==(const update_img_args&) const = default;
};

// A command line update-img refuses (exit_usage).
class usage_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// args: the arguments after the program name. Throws usage_error.
update_img_args parse_update_img_args(const std::vector<std::string>& args);

std::string update_img_help();

struct failure {
    int status;
    std::string message; // "update-img: <context>: <strerror>", no newline
};

failure describe_failure(const std::exception_ptr& error);

} // namespace bsnap::upd
