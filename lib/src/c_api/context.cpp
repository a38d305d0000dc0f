#include "context.hpp"

#include <memory>

namespace bsnap::c_api {

int errno_of(const std::system_error& e) {
    const std::error_category& category = e.code().category();
    bool is_errno = category == std::generic_category() || category == std::system_category();
    int value = e.code().value();
    return is_errno && value > 0 ? value : EIO;
}

void set_reason(bsnap_ctx* ctx, const char* operation, const char* what) noexcept {
    try {
        ctx->reason = *operation ? std::string(operation) + ": " + what : std::string(what);
    } catch (...) {
        ctx->reason.clear(); // out of memory: no words left
    }
}

void require(const void* p, const char* what) {
    if (p == nullptr)
        throw std::system_error(EINVAL, std::generic_category(), std::string(what) + " is NULL");
}

} // namespace bsnap::c_api

using namespace bsnap::c_api;

extern "C" {

int bsnap_ctx_new(bsnap_ctx** ctx) {
    if (ctx == nullptr)
        return -EINVAL;
    try {
        *ctx = std::make_unique<bsnap_ctx>().release(); // the caller owns it now
        return 0;
    } catch (const std::bad_alloc&) {
        *ctx = nullptr;
        return -ENOMEM;
    }
}

void bsnap_ctx_free(bsnap_ctx* ctx) {
    std::unique_ptr<bsnap_ctx> owned(ctx); // back from the caller
}

const char* bsnap_reason(const bsnap_ctx* ctx) {
    return ctx ? ctx->reason.c_str() : "no context (NULL)";
}

int bsnap_module_version(bsnap_ctx* ctx, unsigned* abi_version, char* version,
                         size_t version_size) {
    return guarded(ctx, "version", [&] {
        bsnap::module_version v = ctx->control().version();
        if (abi_version)
            *abi_version = v.abi_version;
        if (version && version_size > 0) {
            std::size_t n = std::min(version_size - 1, v.version.size());
            std::memcpy(version, v.version.data(), n);
            version[n] = '\0';
        }
        return 0;
    });
}

} // extern "C"
