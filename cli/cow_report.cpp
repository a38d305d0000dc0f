#include "cow_report.hpp"

#include <bsnap/errors.hpp>
#include <bsnap/size.hpp>
#include <bsnap/uuid.hpp>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <system_error>

namespace bsnap::ctl {

namespace {

struct ctx_deleter {
    void operator()(bsnap_ctx* ctx) const { bsnap_ctx_free(ctx); }
};
struct file_deleter {
    void operator()(bsnap_cow_file* file) const { bsnap_cow_file_close(file); }
};
using ctx_ptr = std::unique_ptr<bsnap_ctx, ctx_deleter>;
using file_ptr = std::unique_ptr<bsnap_cow_file, file_deleter>;

// libbsnap's reason ends with ": <strerror>", which errno_error adds again.
[[noreturn]] void throw_reason(int err, const bsnap_ctx* ctx) {
    std::string reason = ctx ? bsnap_reason(ctx) : "";
    std::string suffix = ": " + std::generic_category().message(err);
    if (reason.size() >= suffix.size() &&
        reason.compare(reason.size() - suffix.size(), suffix.size(), suffix) == 0)
        reason.erase(reason.size() - suffix.size());
    throw errno_error(err, reason.empty() ? "libbsnap" : reason);
}

std::pair<ctx_ptr, file_ptr> open_cow(const std::string& path, unsigned flags) {
    bsnap_ctx* raw_ctx = nullptr;
    if (int ret = bsnap_ctx_new(&raw_ctx); ret < 0)
        throw errno_error(-ret, "libbsnap");
    ctx_ptr ctx(raw_ctx);
    bsnap_cow_file* raw_file = nullptr;
    if (int ret = bsnap_cow_file_open(ctx.get(), path.c_str(), flags, &raw_file); ret < 0)
        throw_reason(-ret, ctx.get());
    return {std::move(ctx), file_ptr(raw_file)};
}

bsnap_cow_file_info info_of(bsnap_cow_file* file) {
    bsnap_cow_file_info info{};
    info.size = sizeof info;
    if (int ret = bsnap_cow_file_get_info(file, &info); ret < 0)
        throw errno_error(-ret, "libbsnap: the CoW file's header");
    return info;
}

std::string uuid_text(const bsnap_cow_file_info& info) {
    bsnap::uuid id;
    std::memcpy(id.data(), info.uuid, id.size());
    return format_uuid(id);
}

std::string yes_no(bool value) {
    return value ? "yes" : "no";
}

} // namespace

bsnap_cow_file_info read_cow_info(const std::string& file) {
    auto [ctx, cow] = open_cow(file, BSNAP_COW_FILE_HEADER_ONLY);
    return info_of(cow.get());
}

cow_runs read_cow_runs(const std::string& file) {
    auto [ctx, cow] = open_cow(file, 0);
    cow_runs result;
    result.info = info_of(cow.get());
    std::uint64_t first = 0, count = 0;
    int ret;
    while ((ret = bsnap_cow_file_next_run(cow.get(), &first, &count)) == 1)
        result.runs.emplace_back(first, count);
    if (ret < 0)
        throw errno_error(-ret, "CoW file " + file + ": runs of changed blocks");
    return result;
}

std::string cow_info_text(const std::string& file, const bsnap_cow_file_info& info) {
    std::uint64_t device_bytes = info.device_sectors * 512;
    std::string text;
    text += "CoW file " + file + "\n";
    text += "  format version:  " + std::to_string(info.version) + "\n";
    text += "  chain uuid:      " + uuid_text(info) + "\n";
    text += "  seqid:           " + std::to_string(info.seqid) + "\n";
    text += "  clean:           " + yes_no(info.flags & BSNAP_COW_CLEAN) +
            ((info.flags & BSNAP_COW_CLEAN) ? "" : " (in use, or not closed properly)") + "\n";
    text += "  superseded:      " + yes_no(info.flags & BSNAP_COW_SUPERSEDED) + "\n";
    text += "  index only:      " + yes_no(info.flags & BSNAP_COW_INDEX_ONLY) + "\n";
    text += "  device size:     " + format_size(device_bytes) + " (" +
            std::to_string(info.device_sectors) + " sectors)\n";
    text += "  block size:      " + std::to_string(info.block_size) + "\n";
    text += "  changed blocks:  " + std::to_string(info.changed_blocks) + " of " +
            std::to_string(info.nr_blocks) + " (" +
            format_size(info.changed_blocks * info.block_size) + ")\n";
    text += "  file size:       " + format_size(info.file_size) + "\n";
    text += "  data blocks:     " + std::to_string(info.data_blocks) + "\n";
    return text;
}

nlohmann::json cow_info_json(const std::string& file, const bsnap_cow_file_info& info) {
    return {
        {"format_version", 1},
        {"file", file},
        {"version", info.version},
        {"uuid", uuid_text(info)},
        {"seqid", info.seqid},
        {"flags", info.flags},
        {"clean", (info.flags & BSNAP_COW_CLEAN) != 0},
        {"index_only", (info.flags & BSNAP_COW_INDEX_ONLY) != 0},
        {"superseded", (info.flags & BSNAP_COW_SUPERSEDED) != 0},
        {"block_size", info.block_size},
        {"device_sectors", info.device_sectors},
        {"nr_blocks", info.nr_blocks},
        {"changed_blocks", info.changed_blocks},
        {"file_size", info.file_size},
        {"data_blocks", info.data_blocks},
    };
}

void write_runs_text(std::ostream& out, const cow_runs& runs) {
    for (const auto& [first, count] : runs.runs)
        out << first << ' ' << count << '\n';
}

nlohmann::json cow_runs_json(const std::string& file, const cow_runs& runs) {
    auto list = nlohmann::json::array();
    for (const auto& [first, count] : runs.runs)
        list.push_back({first, count});
    return {
        {"format_version", 1},
        {"file", file},
        {"uuid", uuid_text(runs.info)},
        {"seqid", runs.info.seqid},
        {"block_size", runs.info.block_size},
        {"nr_blocks", runs.info.nr_blocks},
        {"changed_blocks", runs.info.changed_blocks},
        {"runs", std::move(list)},
    };
}

} // namespace bsnap::ctl
