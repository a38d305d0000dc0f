#include "cow_chain.hpp"

#include <algorithm>
#include <bsnap/errors.hpp>
#include <bsnap/refusals.hpp>
#include <cerrno>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <sys/stat.h>
#include <utility>
#include <vector>

namespace bsnap::upd {

namespace {

std::string num(std::uint64_t value) {
    return std::to_string(value);
}

// The refusals of a file of another chain or device than the first.
void check_same_chain(const cow_link& first, const bsnap::uuid& first_uuid,
                      std::uint64_t first_bytes, const cow_link& next, const cow_file_reader& cow) {
    if (cow.uuid() != first_uuid)
        throw errno_error(EINVAL, "different chain: " + next.name() + " belongs to chain " +
                                      format_uuid(cow.uuid()) + ", " + first.name() + " to " +
                                      format_uuid(first_uuid));
    if (cow.device_bytes() != first_bytes)
        throw errno_error(EINVAL, "size mismatch: " + next.name() + " tracks " +
                                      num(cow.device_bytes()) + " bytes, " + first.name() +
                                      " tracks " + num(first_bytes) + " bytes");
}

// The seqids must ascend by one. A file listed after a later one is a wrong
// order, wherever it is (4 6 5 is not "5 missing"); only then is a gap.
void check_order(const std::vector<cow_link>& links) {
    for (std::size_t i = 1; i < links.size(); ++i) {
        const cow_link &prev = links[i - 1], &next = links[i];
        if (next.seqid == prev.seqid)
            throw errno_error(EINVAL, "wrong order: " + prev.name() + " and " + next.name() +
                                          " are both seqid " + num(next.seqid) +
                                          "; give each CoW file once, oldest first");
        if (next.seqid < prev.seqid)
            throw errno_error(EINVAL, "wrong order: " + next.name() + " (seqid " + num(next.seqid) +
                                          ") is listed after " + prev.name() + " (seqid " +
                                          num(prev.seqid) + "); list the CoW files oldest first");
    }
    for (std::size_t i = 1; i < links.size(); ++i) {
        const cow_link &prev = links[i - 1], &next = links[i];
        if (next.seqid == prev.seqid + 1)
            continue;
        std::uint64_t first = prev.seqid + 1, last = next.seqid - 1;
        std::string missing =
            first == last ? "the CoW file of seqid " + num(first) + " is"
                          : "the CoW files of seqids " + num(first) + " to " + num(last) + " are";
        throw errno_error(EINVAL, "gap in the chain: " + prev.name() + " is seqid " +
                                      num(prev.seqid) + ", " + next.name() + " seqid " +
                                      num(next.seqid) + "; " + missing + " missing");
    }
}

} // namespace

cow_chain::cow_chain(const std::vector<std::string>& paths) {
    if (paths.empty())
        throw std::invalid_argument("cow_chain: no CoW file");
    for (const std::string& path : paths) {
        refuse_cow_file_in_use(path); // neither damaged nor a crash to recover from
        add(cow_file_reader(path));
    }
    check_order(links_);
    changed_blocks_ = count_set_bits(bitmap_, nr_blocks_);
}

void cow_chain::add(cow_file_reader&& cow) {
    cow_link link;
    link.path = cow.path().string();
    link.seqid = cow.seqid();
    link.recovered = cow.recovered();
    link.intent_regions = cow.intent_regions();
    link.region_bytes = cow.region_bytes();
    struct stat st;
    if (::stat(link.path.c_str(), &st) < 0)
        throw_errno("stat " + link.name());
    link.dev = st.st_dev;
    link.ino = st.st_ino;

    if (links_.empty()) {
        uuid_ = cow.uuid();
        device_bytes_ = cow.device_bytes();
        nr_blocks_ = cow.nr_blocks();
        block_size_ = cow.block_size();
        bitmap_ = std::move(cow).take_bitmap();
    } else {
        check_same_chain(links_.front(), uuid_, device_bytes_, link, cow);
        // Same device size, so the same number of blocks and bitmap bytes.
        std::span<const std::uint8_t> more = cow.bitmap();
        std::transform(bitmap_.begin(), bitmap_.end(), more.begin(), bitmap_.begin(),
                       std::bit_or<>());
    }
    links_.push_back(std::move(link));
}

bool cow_chain::changed(std::uint64_t block) const {
    return block < nr_blocks_ && (bitmap_[block / 8] >> (block % 8) & 1);
}

} // namespace bsnap::upd
