#include "exit_status.hpp"

#include "command_line.hpp"

#include <cerrno>
#include <new>
#include <system_error>

namespace bsnap::ctl {

namespace {

std::string prefix(std::string_view command) {
    std::string text = "bsnapctl: ";
    if (!command.empty())
        text += std::string(command) + ": ";
    return text;
}

// An errno fits an exit status; anything else is a bug in bsnapctl.
int errno_status(const std::error_code& code) {
    bool is_errno =
        code.category() == std::generic_category() || code.category() == std::system_category();
    return is_errno && code.value() > 0 && code.value() < 256 ? code.value() : exit_internal;
}

} // namespace

failure describe_failure(std::string_view command, const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const usage_error& e) {
        return {e.status(), prefix(e.command().empty() ? command : e.command()) + e.what()};
    } catch (const std::system_error& e) {
        return {errno_status(e.code()), prefix(command) + e.what()};
    } catch (const std::bad_alloc&) {
        return {ENOMEM, prefix(command) + std::generic_category().message(ENOMEM)};
    } catch (const std::exception& e) {
        return {exit_internal, prefix(command) + "internal error: " + e.what()};
    } catch (...) {
        return {exit_internal, prefix(command) + "internal error: unknown exception"};
    }
}

} // namespace bsnap::ctl
