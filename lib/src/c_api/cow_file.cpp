// The C API's CoW file reader: cow_file_reader (and read_cow_header for a
// file opened header only), which decode through the module's format codec.
#include "context.hpp"

#include <bsnap/cow_file_reader.hpp>
#include <bsnap/refusals.hpp>
#include <memory>

struct bsnap_cow_file {
    bsnap::cow_header header;
    std::optional<bsnap::cow_file_reader> reader; // none: header only
    std::uint64_t next = 0;                       // where the next run starts
};

using namespace bsnap::c_api;

extern "C" {

int bsnap_cow_file_open(bsnap_ctx* ctx, const char* path, unsigned flags, bsnap_cow_file** file) {
    // The reasons name the file ("CoW file /x: not clean ..."): no prefix.
    return guarded(ctx, "", [&] {
        require(path, "path");
        require(file, "file");
        *file = nullptr;
        if (flags & ~BSNAP_COW_FILE_HEADER_ONLY)
            throw std::system_error(EINVAL, std::generic_category(),
                                    "unknown flags " + std::to_string(flags));
        auto opened = std::make_unique<bsnap_cow_file>();
        if (flags & BSNAP_COW_FILE_HEADER_ONLY) {
            opened->header = bsnap::read_cow_header(path);
        } else {
            bsnap::refuse_cow_file_in_use(path); // its changes are not complete
            opened->reader.emplace(path);
            opened->header = opened->reader->header();
        }
        *file = opened.release(); // the caller owns it now
        return 0;
    });
}

void bsnap_cow_file_close(bsnap_cow_file* file) {
    std::unique_ptr<bsnap_cow_file> owned(file); // back from the caller
}

int bsnap_cow_file_get_info(const bsnap_cow_file* file, bsnap_cow_file_info* info) {
    if (file == nullptr || info == nullptr || info->size < sizeof(std::uint32_t))
        return -EINVAL;
    const bsnap::cow_header& h = file->header;
    bsnap_cow_file_info ours{};
    ours.size = sizeof ours;
    ours.version = h.version;
    ours.flags = h.flags;
    ours.block_size = h.block_size;
    std::memcpy(ours.uuid, h.uuid.data(), sizeof ours.uuid);
    ours.seqid = h.seqid;
    ours.device_sectors = h.device_sectors;
    ours.nr_blocks = h.nr_blocks;
    ours.changed_blocks = file->reader ? file->reader->changed_blocks() : h.changed_blocks;
    ours.recovered = file->reader && file->reader->recovered();
    ours.file_size = h.file_size;
    ours.data_blocks = h.data_blocks;
    copy_sized(info, ours);
    return 0;
}

int bsnap_cow_file_next_run(bsnap_cow_file* file, uint64_t* first, uint64_t* count) {
    if (file == nullptr || first == nullptr || count == nullptr || !file->reader)
        return -EINVAL;
    bsnap::block_runs runs(file->reader->bitmap(), file->reader->nr_blocks());
    // The iterator starts its search at 'next': no rescan of earlier runs.
    auto it = runs.from(file->next);
    if (it == std::default_sentinel)
        return 0;
    *first = it->first;
    *count = it->count;
    file->next = it->end();
    return 1;
}

void bsnap_cow_file_rewind(bsnap_cow_file* file) {
    if (file)
        file->next = 0;
}

} // extern "C"
