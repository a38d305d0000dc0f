// The C API's context (struct bsnap_ctx of <bsnap/libbsnap.h>) and the one
// place where C++ exceptions become a negative errno and a reason.
#pragma once

#include <algorithm>
#include <bsnap/control_device.hpp>
#include <bsnap/libbsnap.h>
#include <cerrno>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <system_error>

struct bsnap_ctx {
    std::optional<bsnap::control_device> ctl;
    std::string reason;

    // The control device, opened at the first call that needs it.
    bsnap::control_device& control() {
        if (!ctl)
            ctl.emplace();
        return *ctl;
    }
};

namespace bsnap::c_api {

// The errno of an exception; EIO if it carries none.
int errno_of(const std::system_error& e);

// Records "<operation>: <what>" (just <what> for an empty operation) as
// ctx's reason; never throws.
void set_reason(bsnap_ctx* ctx, const char* operation, const char* what) noexcept;

// Runs fn() and returns its int result (0 or a count), or the negative
// errno of what it threw, with the reason recorded in ctx. EINVAL if ctx
// is NULL.
template <typename Fn>
int guarded(bsnap_ctx* ctx, const char* operation, Fn&& fn) noexcept {
    if (!ctx)
        return -EINVAL;
    ctx->reason.clear();
    try {
        return fn();
    } catch (const std::system_error& e) {
        set_reason(ctx, operation, e.what());
        return -errno_of(e);
    } catch (const std::bad_alloc&) {
        set_reason(ctx, operation, "out of memory");
        return -ENOMEM;
    } catch (const std::exception& e) {
        set_reason(ctx, operation, e.what());
        return -EIO;
    }
}

// EINVAL "<what> is NULL" unless p is set.
void require(const void* p, const char* what);

// Copies ours into the caller's struct of caller_size bytes (its 'size'):
// what both know; the caller's longer tail zeroed, its size kept.
template <typename T>
void copy_sized(T* out, const T& ours) {
    if (out == nullptr)
        throw std::system_error(EINVAL, std::generic_category(), "output struct is NULL");
    std::uint32_t caller_size = out->size;
    if (caller_size < sizeof(std::uint32_t))
        throw std::system_error(EINVAL, std::generic_category(),
                                "size " + std::to_string(caller_size) + " of the output struct");
    auto* bytes = reinterpret_cast<unsigned char*>(out);
    std::size_t n = std::min<std::size_t>(caller_size, sizeof(T));
    std::memcpy(bytes, &ours, n);
    if (caller_size > sizeof(T))
        std::memset(bytes + sizeof(T), 0, caller_size - sizeof(T));
    out->size = caller_size;
}

} // namespace bsnap::c_api
