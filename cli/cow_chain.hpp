// The CoW files update-img applies to an image, oldest first, and their
// changes as one bitmap: the blocks any of them marks changed.
//
// Usually one file: the previous snapshot's. After a crash in snapshot mode
// the backup of snapshot N never completed, and the image still holds
// snapshot N-1 (or, if update-img was cut short, N-1 with some of the blocks
// file N-1 marks changed already from N). Snapshot M+1 then brings it up to
// date with the union of the changes of files N-1..M (issue 15): every block
// that differs between the image and snapshot M+1 is in one of them.
//
// The files must be one chain's (same UUID, same device size) consecutive
// seqids in ascending order; anything else is refused with EINVAL before a
// byte is written, naming the two files that disagree: a file listed after
// a later one is a wrong order wherever it is, and only files in ascending
// order can have a gap. Each file is read
// and checked by cow_file_reader (a BROKEN file, or an unclean one without
// write intent, is refused with EBADMSG). One reader lives at a time: the
// memory is the union's bitmap and one file's.
#pragma once

#include <bsnap/cow_file_reader.hpp>
#include <bsnap/uuid.hpp>
#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace bsnap::upd {

// What update-img keeps of each CoW file once its changes are in the union.
struct cow_link {
    std::string path;
    std::uint64_t seqid = 0;
    bool recovered = false;           // not closed cleanly, usable by its write intent
    std::uint64_t intent_regions = 0; // of a recovered file: regions copied whole
    std::uint64_t region_bytes = 0;
    dev_t dev = 0; // the file's identity: never the image
    ino_t ino = 0;

    std::string name() const { return "CoW file " + path; }
};

class cow_chain {
  public:
    // paths: oldest first, at least one. Throws cow_format_error, or
    // errno_error(EINVAL) for a wrong order, a gap, another chain or size.
    explicit cow_chain(const std::vector<std::string>& paths);

    const std::vector<cow_link>& links() const { return links_; }
    // The last file: the one whose seqid is the snapshot's minus one.
    const cow_link& newest() const { return links_.back(); }

    const bsnap::uuid& uuid() const { return uuid_; }
    std::uint64_t device_bytes() const { return device_bytes_; }
    std::uint64_t nr_blocks() const { return nr_blocks_; }
    std::uint64_t block_size() const { return block_size_; }

    // Blocks changed in at least one file.
    std::uint64_t changed_blocks() const { return changed_blocks_; }
    bool changed(std::uint64_t block) const;
    block_runs runs() const { return block_runs(bitmap_, nr_blocks_); }

  private:
    void add(cow_file_reader&& cow);

    std::vector<cow_link> links_;
    bsnap::uuid uuid_{};
    std::uint64_t device_bytes_ = 0;
    std::uint64_t nr_blocks_ = 0;
    std::uint64_t block_size_ = 0;
    std::vector<std::uint8_t> bitmap_;
    std::uint64_t changed_blocks_ = 0;
};

} // namespace bsnap::upd
