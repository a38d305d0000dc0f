// bsnapctl cow-info and changed-blocks: a CoW file's header and its runs of
// changed blocks, read with libbsnap's C reader (<bsnap/libbsnap.h>, the
// same calls backup software makes), printed as text or JSON.
//
// cow-info --json: {"format_version": 1, "file", "version", "uuid", "seqid",
//   "flags", "clean", "index_only", "superseded", "block_size",
//   "device_sectors", "nr_blocks", "changed_blocks", "file_size",
//   "data_blocks"}
// changed-blocks --json: {"format_version": 1, "file", "uuid", "seqid",
//   "block_size", "nr_blocks", "changed_blocks", "runs": [[first, count], ...]}
#pragma once

#include <bsnap/libbsnap.h>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace bsnap::ctl {

struct cow_runs {
    bsnap_cow_file_info info{};
    std::vector<std::pair<std::uint64_t, std::uint64_t>> runs; // first, count
};

// Read through libbsnap; a refusal throws std::system_error with its errno
// and libbsnap's reason ("CoW file /x: not clean (...)").
bsnap_cow_file_info read_cow_info(const std::string& file);
cow_runs read_cow_runs(const std::string& file);

std::string cow_info_text(const std::string& file, const bsnap_cow_file_info& info);
nlohmann::json cow_info_json(const std::string& file, const bsnap_cow_file_info& info);

// One "<first> <count>" line per run.
void write_runs_text(std::ostream& out, const cow_runs& runs);
nlohmann::json cow_runs_json(const std::string& file, const cow_runs& runs);

} // namespace bsnap::ctl
