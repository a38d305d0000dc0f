#include "exit_status.hpp"

#include "command_line.hpp"

#include <cerrno>
#include <new>
#include <system_error>

namespace bsnap::ctl {

namespace {

std::string prefix(std::string_view name) {
    std::string text = "bsnapctl: ";
    if (!name.empty())
        text += std::string(name) + ": ";
    return text;
}

// An errno fits an exit status; anything else is a bug in bsnapctl.
int errno_status(const std::error_code& code) {
    bool is_errno =
        code.category() == std::generic_category() || code.category() == std::system_category();
    return is_errno && code.value() > 0 && code.value() < 256 ? code.value() : exit_internal;
}

} // namespace

failure describe_failure(std::string_view name, const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const usage_error& e) {
        return {e.status(), prefix(e.command().empty() ? name : e.command()) + e.what()};
    } catch (const std::system_error& e) {
        return {errno_status(e.code()), prefix(name) + e.what()};
    } catch (const std::bad_alloc&) {
        return {ENOMEM, prefix(name) + std::generic_category().message(ENOMEM)};
    } catch (const std::exception& e) {
        return {exit_internal, prefix(name) + "internal error: " + e.what()};
    } catch (...) {
        return {exit_internal, prefix(name) + "internal error: unknown exception"};
    }
}

} // namespace bsnap::ctl
