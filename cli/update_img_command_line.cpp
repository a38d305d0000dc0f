#include "update_img_command_line.hpp"

#include <cerrno>
#include <new>
#include <system_error>

namespace bsnap::upd {

namespace {

const char* const hint = " (see 'update-img --help')";

} // namespace

update_img_args parse_update_img_args(const std::vector<std::string>& args) {
    update_img_args parsed;
    std::vector<std::string> positionals;
    bool options_end = false;
    for (const std::string& arg : args) {
        if (options_end || arg == "-" || !arg.starts_with("-")) {
            positionals.push_back(arg);
        } else if (arg == "--") {
            options_end = true;
        } else if (arg == "-q" || arg == "--quiet") {
            parsed.quiet = true;
        } else if (arg == "-h" || arg == "--help") {
            parsed.help = true;
        } else if (arg == "-V" || arg == "--version") {
            parsed.version = true;
        } else {
            throw usage_error("unknown option '" + arg + "'" + hint);
        }
    }
    if (parsed.help || parsed.version)
        return parsed;
    static const char* const names[] = {"<snapdev>", "<old_cow>", "<image>"};
    if (positionals.size() < 3)
        throw usage_error(std::string("missing ") + names[positionals.size()] + hint);
    parsed.snapshot = positionals.front();
    parsed.cows.assign(positionals.begin() + 1, positionals.end() - 1);
    parsed.image = positionals.back();
    return parsed;
}

std::string update_img_help() {
    return "Usage: update-img [-q] <snapdev> <old_cow>... <image>\n"
           "\n"
           "Brings the backup <image> up to date with the snapshot <snapdev> (/dev/bsnapN) by\n"
           "copying only the blocks that <old_cow>, the previous snapshot's CoW file, marks\n"
           "as changed. <image> must hold the previous snapshot (a full copy, then each\n"
           "incremental in order) and be a regular file or block device of the same size.\n"
           "\n"
           "If a backup did not complete (a crash in snapshot mode), <image> holds an older\n"
           "snapshot: list the CoW files of that snapshot and of every later one, oldest\n"
           "first; the blocks any of them marks are copied.\n"
           "\n"
           "Nothing is written unless each <old_cow> is a complete CoW file of the\n"
           "snapshot's chain, closed cleanly or kept by write intent through a crash, their\n"
           "seqids follow each other and the last is the snapshot's minus one. Success\n"
           "means the changed blocks are on the image's disk (fsync).\n"
           "\n"
           "Options:\n"
           "  -q, --quiet    no progress bar on a terminal, no summary or crash line\n"
           "  -h, --help     show this help\n"
           "  -V, --version  show the version\n"
           "\n"
           "Exit status: 0 on success, the errno of a failure (EBADMSG: bad CoW file, or one\n"
           "whose chain is broken: take a full backup; EINVAL: another chain, wrong order, a\n"
           "gap or size mismatch), 64 for a malformed command line.\n";
}

failure describe_failure(const std::exception_ptr& error) {
    const std::string prefix = "update-img: ";
    try {
        std::rethrow_exception(error);
    } catch (const usage_error& e) {
        return {exit_usage, prefix + e.what()};
    } catch (const std::system_error& e) {
        const std::error_code& code = e.code();
        bool is_errno =
            code.category() == std::generic_category() || code.category() == std::system_category();
        int status =
            is_errno && code.value() > 0 && code.value() < 256 ? code.value() : exit_internal;
        return {status, prefix + e.what()};
    } catch (const std::bad_alloc&) {
        return {ENOMEM, prefix + std::generic_category().message(ENOMEM)};
    } catch (const std::exception& e) {
        return {exit_internal, prefix + "internal error: " + e.what()};
    } catch (...) {
        return {exit_internal, prefix + "internal error: unknown exception"};
    }
}

} // namespace bsnap::upd
