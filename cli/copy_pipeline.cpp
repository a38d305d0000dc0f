#include "copy_pipeline.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <utility>
#include <vector>

namespace bsnap::upd {

namespace {

struct free_deleter {
    void operator()(std::byte* p) const { std::free(p); }
};
using aligned_buffer = std::unique_ptr<std::byte, free_deleter>;

// Page aligned, a whole number of pages: what O_DIRECT asks of memory.
aligned_buffer make_buffer(std::size_t size) {
    constexpr std::size_t align = 4096;
    aligned_buffer buf(static_cast<std::byte*>(
        std::aligned_alloc(align, std::max<std::size_t>(1, (size + align - 1) / align) * align)));
    if (!buf)
        throw std::bad_alloc();
    return buf;
}

struct filled_buffer {
    copy_extent extent;
    std::byte* buf;
};

// What the threads share, under mutex_.
class pipeline {
  public:
    pipeline(const pipeline_options& options, const extent_source& next, const extent_reader& read)
        : next_(next), read_(read) {
        for (unsigned i = 0; i < std::max(1u, options.buffers); ++i)
            pool_.push_back(make_buffer(options.buffer_bytes));
        for (const aligned_buffer& buf : pool_)
            free_.push_back(buf.get());
    }

    // A reader thread's life: take a free buffer and the next extent, read, hand over.
    void reader() {
        for (;;) {
            filled_buffer item{};
            {
                std::unique_lock lock(mutex_);
                free_cv_.wait(lock, [this] { return stop_ || exhausted_ || !free_.empty(); });
                std::optional<copy_extent> extent;
                if (!stop_ && !exhausted_) {
                    try {
                        extent = next_();
                    } catch (...) {
                        fail_locked(std::current_exception());
                    }
                }
                if (!extent) {
                    // The other readers waiting for a buffer must end too.
                    exhausted_ = true;
                    free_cv_.notify_all();
                    reader_ended_locked();
                    return;
                }
                item = {std::move(*extent), free_.back()};
                free_.pop_back();
            }
            std::exception_ptr error;
            try {
                read_(item.extent, item.buf);
            } catch (...) {
                error = std::current_exception();
            }
            std::lock_guard lock(mutex_);
            if (error) {
                fail_locked(std::move(error));
                reader_ended_locked();
                return;
            }
            filled_.push_back(std::move(item));
            filled_cv_.notify_one();
        }
    }

    // The next extent read, or nullopt once all are (or on an error).
    std::optional<filled_buffer> take_filled() {
        std::unique_lock lock(mutex_);
        filled_cv_.wait(lock, [this] { return stop_ || !filled_.empty() || readers_ == 0; });
        if (stop_ || filled_.empty())
            return std::nullopt;
        filled_buffer item = std::move(filled_.front());
        filled_.pop_front();
        return item;
    }

    void give_back(std::byte* buf) {
        std::lock_guard lock(mutex_);
        free_.push_back(buf);
        free_cv_.notify_one();
    }

    // Keeps the first error and stops everything.
    void fail(std::exception_ptr error) {
        std::lock_guard lock(mutex_);
        fail_locked(std::move(error));
    }

    // Stops the readers (they finish the read they are in) without an error.
    void stop() {
        std::lock_guard lock(mutex_);
        stop_locked();
    }

    void reader_starting() {
        std::lock_guard lock(mutex_);
        ++readers_;
    }

    void reader_ended() {
        std::lock_guard lock(mutex_);
        reader_ended_locked();
    }

    std::exception_ptr error() {
        std::lock_guard lock(mutex_);
        return error_;
    }

  private:
    void fail_locked(std::exception_ptr error) {
        if (!error_)
            error_ = std::move(error);
        stop_locked();
    }
    void stop_locked() {
        stop_ = true;
        free_cv_.notify_all();
        filled_cv_.notify_all();
    }
    void reader_ended_locked() {
        --readers_;
        filled_cv_.notify_all();
    }

    const extent_source& next_;
    const extent_reader& read_;
    std::vector<aligned_buffer> pool_;

    std::mutex mutex_;
    std::condition_variable free_cv_;   // free_ got a buffer, exhausted_ or stop_
    std::condition_variable filled_cv_; // filled_ got one, a reader ended, or stop_
    std::vector<std::byte*> free_;
    std::deque<filled_buffer> filled_;
    unsigned readers_ = 0;   // reader threads still running
    bool exhausted_ = false; // next_ has returned nullopt
    bool stop_ = false;
    std::exception_ptr error_;
};

// The reader threads; stopped and joined on destruction, however it is reached.
class reader_threads {
  public:
    explicit reader_threads(pipeline& p) : p_(p) {}
    reader_threads(const reader_threads&) = delete;
    reader_threads& operator=(const reader_threads&) = delete;
    ~reader_threads() { stop_and_join(); }

    void start(unsigned n) {
        for (unsigned i = 0; i < n; ++i) {
            p_.reader_starting();
            try {
                threads_.emplace_back([this] { p_.reader(); });
            } catch (...) {
                p_.reader_ended();
                throw;
            }
        }
    }

    // Waits for the readers to run out of extents.
    void join() {
        for (std::thread& t : threads_)
            t.join();
        threads_.clear();
    }

    // The readers finish the read they are in and end.
    void stop_and_join() {
        p_.stop();
        join();
    }

  private:
    pipeline& p_;
    std::vector<std::thread> threads_;
};

} // namespace

void run_copy_pipeline(const pipeline_options& options, const extent_source& next,
                       const extent_reader& read, const extent_writer& write) {
    pipeline p(options, next, read);
    reader_threads readers(p);
    try {
        readers.start(std::max(1u, options.readers));
        while (std::optional<filled_buffer> item = p.take_filled()) {
            write(item->extent, item->buf);
            p.give_back(item->buf);
        }
    } catch (...) {
        p.fail(std::current_exception());
    }
    readers.stop_and_join();
    if (std::exception_ptr error = p.error())
        std::rethrow_exception(error);
}

} // namespace bsnap::upd
