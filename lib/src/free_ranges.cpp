#include "bsnap/free_ranges.hpp"

#include <algorithm>
#include <limits>

namespace bsnap {

namespace {

// A half-open interval [begin, end) of bytes.
struct interval {
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
};

std::uint64_t saturating_end(std::uint64_t start, std::uint64_t length) {
    return length > std::numeric_limits<std::uint64_t>::max() - start
               ? std::numeric_limits<std::uint64_t>::max()
               : start + length;
}

// Sorts and joins intervals that overlap or touch; drops empty ones.
std::vector<interval> merged(std::vector<interval> in) {
    std::erase_if(in, [](const interval& i) { return i.begin >= i.end; });
    std::sort(in.begin(), in.end(),
              [](const interval& a, const interval& b) { return a.begin < b.begin; });
    std::vector<interval> out;
    for (const interval& i : in) {
        if (!out.empty() && i.begin <= out.back().end)
            out.back().end = std::max(out.back().end, i.end);
        else
            out.push_back(i);
    }
    return out;
}

// The parts of 'from' outside every interval of 'minus' (both merged).
std::vector<interval> subtract(const std::vector<interval>& from,
                               const std::vector<interval>& minus) {
    std::vector<interval> out;
    auto m = minus.begin();
    for (interval rest : from) {
        while (m != minus.end() && m->end <= rest.begin)
            ++m;
        for (auto cut = m; cut != minus.end() && cut->begin < rest.end; ++cut) {
            if (cut->begin > rest.begin)
                out.push_back({rest.begin, cut->begin});
            rest.begin = std::max(rest.begin, cut->end);
            if (rest.begin >= rest.end)
                break;
        }
        if (rest.begin < rest.end)
            out.push_back(rest);
    }
    return out;
}

std::uint64_t round_up(std::uint64_t n, std::uint64_t to) {
    std::uint64_t rem = n % to;
    return rem == 0 ? n : saturating_end(n, to - rem);
}

} // namespace

std::uint64_t free_file_ranges::bytes() const {
    std::uint64_t total = 0;
    for (const file_range& r : ranges)
        total += r.len;
    return total;
}

free_file_ranges find_free_file_ranges(std::span<const file_extent> extents,
                                       std::span<const space_record> records, file_range window,
                                       std::size_t max_ranges, std::uint64_t align) {
    if (align == 0)
        align = 1;
    std::vector<interval> free_space;
    std::vector<interval> used_space;
    for (const space_record& r : records)
        (r.free ? free_space : used_space)
            .push_back({r.physical, saturating_end(r.physical, r.length)});
    // Free where some record says free and none says in use.
    std::vector<interval> usable =
        subtract(merged(std::move(free_space)), merged(std::move(used_space)));

    const std::uint64_t window_end = saturating_end(window.off, window.len);
    std::vector<interval> found; // file offsets
    for (const file_extent& e : extents) {
        std::uint64_t e_end = saturating_end(e.logical, e.length);
        std::uint64_t lo = std::max(e.logical, window.off);
        std::uint64_t hi = std::min(e_end, window_end);
        if (lo >= hi)
            continue;
        // The device bytes of file bytes [lo, hi); an extent whose device
        // end would pass 2^64 is nonsense and is cut there.
        std::uint64_t p_lo = saturating_end(e.physical, lo - e.logical);
        std::uint64_t p_hi = saturating_end(e.physical, hi - e.logical);
        auto first = std::partition_point(usable.begin(), usable.end(),
                                          [p_lo](const interval& u) { return u.end <= p_lo; });
        for (auto u = first; u != usable.end() && u->begin < p_hi; ++u) {
            std::uint64_t a = std::max(u->begin, p_lo);
            std::uint64_t b = std::min(u->end, p_hi);
            if (a < b)
                found.push_back({lo + (a - p_lo), lo + (b - p_lo)});
        }
    }

    free_file_ranges result;
    for (const interval& i : merged(std::move(found))) {
        // Whole aligned slots only; rounding after the merge keeps a slot
        // that two extents share.
        std::uint64_t begin = round_up(i.begin, align);
        std::uint64_t end = i.end - i.end % align;
        if (begin >= end)
            continue;
        if (result.ranges.size() < max_ranges) {
            result.ranges.push_back({begin, end - begin});
        } else {
            ++result.dropped_ranges;
            result.dropped_bytes += end - begin;
        }
    }
    return result;
}

} // namespace bsnap
