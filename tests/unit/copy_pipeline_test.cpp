#include "copy_pipeline.hpp"

#include <algorithm>
#include <atomic>
#include <bsnap/errors.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <random>
#include <thread>

using namespace bsnap;
using namespace bsnap::upd;

namespace {

constexpr std::uint64_t block = 4096;

// Extents of 1 to 3 blocks over a source of nr_blocks, with gaps.
std::vector<copy_extent> some_extents(std::uint64_t nr_blocks, unsigned seed) {
    std::mt19937 random(seed);
    std::vector<copy_extent> extents;
    for (std::uint64_t b = random() % 3; b < nr_blocks;) {
        std::uint64_t n = std::min<std::uint64_t>(1 + random() % 3, nr_blocks - b);
        extents.push_back({{b * block, n * block}, {{b * block, n * block}}, n});
        b += n + random() % 4;
    }
    return extents;
}

struct copy_test {
    std::vector<std::byte> source;
    std::vector<std::byte> target;
    std::vector<copy_extent> extents;
    std::size_t handed_out = 0;
    std::mutex mutex;
    std::vector<std::uint64_t> written; // offsets, in the order written
    std::atomic<int> reads_in_flight = 0, max_reads_in_flight = 0, reads = 0, misaligned = 0;

    explicit copy_test(std::uint64_t nr_blocks, unsigned seed = 1)
        : source(nr_blocks * block), target(nr_blocks * block),
          extents(some_extents(nr_blocks, seed)) {
        std::mt19937 random(seed);
        for (std::byte& b : source)
            b = static_cast<std::byte>(random());
    }

    extent_source next() {
        return [this]() -> std::optional<copy_extent> {
            if (handed_out == extents.size())
                return std::nullopt;
            return extents[handed_out++];
        };
    }

    // fail_at: the read of this extent (by offset) throws EIO.
    extent_reader read(std::optional<std::uint64_t> fail_at = std::nullopt) {
        return [this, fail_at](const copy_extent& e, std::byte* buf) {
            if (reinterpret_cast<std::uintptr_t>(buf) % 4096 != 0)
                ++misaligned; // no CHECK here: Catch's assertions are not thread-safe
            int now = ++reads_in_flight;
            for (int seen = max_reads_in_flight; now > seen;)
                max_reads_in_flight.compare_exchange_weak(seen, now);
            std::this_thread::sleep_for(std::chrono::microseconds(200));
            ++reads;
            --reads_in_flight;
            if (fail_at && e.read.offset == *fail_at)
                throw errno_error(EIO, "read at " + std::to_string(e.read.offset));
            std::memcpy(buf, source.data() + e.read.offset, e.read.length);
        };
    }

    extent_writer write(std::optional<std::uint64_t> fail_at = std::nullopt) {
        return [this, fail_at](const copy_extent& e, const std::byte* buf) {
            if (fail_at && e.read.offset == *fail_at)
                throw errno_error(ENOSPC, "write at " + std::to_string(e.read.offset));
            std::memcpy(target.data() + e.read.offset, buf, e.read.length);
            std::lock_guard lock(mutex);
            written.push_back(e.read.offset);
        };
    }

    std::vector<std::byte> expected() const {
        std::vector<std::byte> bytes(source.size());
        for (const copy_extent& e : extents)
            std::memcpy(bytes.data() + e.read.offset, source.data() + e.read.offset, e.read.length);
        return bytes;
    }
};

// -1 if equal, else the first byte that differs (CHECK(a == b) would print megabytes).
long first_difference(const std::vector<std::byte>& a, const std::vector<std::byte>& b) {
    if (a.size() != b.size())
        return -2;
    auto [x, y] = std::mismatch(a.begin(), a.end(), b.begin());
    return x == a.end() ? -1 : x - a.begin();
}

// Runs f in another thread; fails (and ends the process: the thread cannot
// be abandoned) if it takes longer than a minute, i.e. hangs.
template <typename F>
void within_a_minute(F f) {
    auto done = std::async(std::launch::async, f);
    if (done.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
        std::fprintf(stderr, "copy pipeline: hung\n");
        std::_Exit(99);
    }
    done.get();
}

// The errno run_copy_pipeline fails with (0: none).
int errno_of(const std::function<void()>& run) {
    int err = 0;
    within_a_minute([&] {
        try {
            run();
        } catch (const std::system_error& e) {
            err = e.code().value();
        }
    });
    return err;
}

} // namespace

TEST_CASE("copy pipeline copies every extent once with several reads in flight",
          "[update-img][copy-pipeline]") {
    for (unsigned readers : {1u, 2u, 4u, 8u}) {
        for (unsigned buffers : {1u, 3u, 10u}) {
            INFO(readers << " readers, " << buffers << " buffers");
            copy_test t(600, readers * 10 + buffers);
            within_a_minute([&] {
                run_copy_pipeline({3 * block, readers, buffers}, t.next(), t.read(), t.write());
            });
            CHECK(first_difference(t.target, t.expected()) == -1);
            CHECK(t.misaligned == 0);
            CHECK(t.written.size() == t.extents.size());
            CHECK(t.reads == static_cast<int>(t.extents.size()));
            CHECK(t.max_reads_in_flight <= static_cast<int>(std::min(readers, buffers)));
            if (readers >= 4 && buffers >= 10)
                CHECK(t.max_reads_in_flight > 1);
        }
    }
}

TEST_CASE("copy pipeline with nothing to copy", "[update-img][copy-pipeline]") {
    copy_test t(0);
    within_a_minute([&] { run_copy_pipeline({block, 4, 6}, t.next(), t.read(), t.write()); });
    CHECK(t.written.empty());
}

TEST_CASE("a failed read fails the copy with its errno and stops it",
          "[update-img][copy-pipeline]") {
    for (unsigned readers : {1u, 4u}) {
        INFO(readers << " readers");
        copy_test t(2000);
        std::uint64_t bad = t.extents[t.extents.size() / 3].read.offset;
        CHECK(errno_of([&] {
                  run_copy_pipeline({3 * block, readers, readers + 2}, t.next(), t.read(bad),
                                    t.write());
              }) == EIO);
        // Nothing failed is written, and no read starts once the failure is seen.
        CHECK(std::find(t.written.begin(), t.written.end(), bad) == t.written.end());
        CHECK(t.reads <= static_cast<int>(t.extents.size() / 3 + 1 + readers + 2));
    }
}

TEST_CASE("a failed first read with readers waiting for buffers does not hang",
          "[update-img][copy-pipeline]") {
    copy_test t(50);
    CHECK(errno_of([&] {
              run_copy_pipeline({3 * block, 8, 1}, t.next(), t.read(t.extents[0].read.offset),
                                t.write());
          }) == EIO);
    CHECK(t.written.empty());
}

TEST_CASE("a failed write fails the copy with its errno and stops the readers",
          "[update-img][copy-pipeline]") {
    copy_test t(2000);
    std::uint64_t bad = t.extents[10].read.offset;
    CHECK(errno_of([&] {
              run_copy_pipeline({3 * block, 4, 6}, t.next(), t.read(), t.write(bad));
          }) == ENOSPC);
    CHECK(t.written.size() <= 10 + 6);
    CHECK(t.reads < static_cast<int>(t.extents.size() / 2));
}

TEST_CASE("a failing extent source fails the copy", "[update-img][copy-pipeline]") {
    copy_test t(100);
    int calls = 0;
    extent_source next = [&]() -> std::optional<copy_extent> {
        if (++calls == 5)
            throw errno_error(EBADMSG, "plan");
        return t.extents[static_cast<std::size_t>(calls)];
    };
    CHECK(errno_of([&] {
              run_copy_pipeline({3 * block, 4, 6}, next, t.read(), t.write());
          }) == EBADMSG);
}
