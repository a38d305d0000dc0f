#include "update_img.hpp"

#include "copy_pipeline.hpp"
#include "copy_plan.hpp"
#include "cow_chain.hpp"

#include <algorithm>
#include <atomic>
#include <bsnap/errors.hpp>
#include <bsnap/size.hpp>
#include <bsnap/unique_fd.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <endian.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <mutex>
#include <string>
#include <sys/ioctl.h>
#include <uapi/bsnap_cow.h>
#include <unistd.h>
#include <utility>

namespace bsnap::upd {

namespace {

std::string num(std::uint64_t value) {
    return std::to_string(value);
}

struct stat stat_fd(int fd, const std::string& name) {
    struct stat st;
    if (::fstat(fd, &st) < 0)
        throw_errno("stat " + name);
    return st;
}

// Bytes of a block device or regular file.
std::uint64_t size_of(int fd, const struct stat& st, const std::string& name) {
    if (S_ISREG(st.st_mode))
        return static_cast<std::uint64_t>(st.st_size);
    std::uint64_t bytes = 0;
    if (::ioctl(fd, BLKGETSIZE64, &bytes) < 0)
        throw_errno("size of " + name);
    return bytes;
}

bool same_file(const struct stat& a, const struct stat& b) {
    if (S_ISBLK(a.st_mode) && S_ISBLK(b.st_mode))
        return a.st_rdev == b.st_rdev;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// The snapshot device opened for reading, with O_DIRECT where it works: a
// backup reads each block once, caching it would only evict useful pages.
// read_exact may be called from several threads at once (pread).
class snapshot_reader {
  public:
    snapshot_reader(const std::string& path, const std::string& name) : name_(name) {
        int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
        if (fd >= 0) {
            fd_.reset(fd);
            direct_ = true;
        } else if (errno == EINVAL) {
            fd_ = open_fd(path, O_RDONLY);
        } else {
            throw_errno("open " + path);
        }
        st_ = stat_fd(fd_.get(), name_);
        if (!S_ISREG(st_.st_mode) && !S_ISBLK(st_.st_mode))
            throw errno_error(ENOTBLK, path);
        size_ = size_of(fd_.get(), st_, name_);
    }

    const struct stat& stat() const { return st_; }
    std::uint64_t size() const { return size_; }

    void read_exact(std::uint64_t offset, std::byte* buf, std::size_t len) {
        std::size_t done = 0;
        while (done < len) {
            bool direct = direct_;
            ssize_t n =
                ::pread(fd_.get(), buf + done, len - done, static_cast<off_t>(offset + done));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EINVAL && direct) {
                // An alignment the device refuses: go on through the page cache.
                go_buffered();
                continue;
            }
            if (n < 0)
                throw_errno("read " + name_ + " at offset " + num(offset + done));
            if (n == 0)
                throw errno_error(EIO, "read " + name_ + ": ends at " + num(offset + done) +
                                           ", expected " + num(size_) + " bytes");
            done += static_cast<std::size_t>(n);
        }
    }

  private:
    // Once, whichever thread gets there first; the others' reads then retry.
    void go_buffered() {
        std::lock_guard lock(switching_);
        if (!direct_)
            return;
        if (::fcntl(fd_.get(), F_SETFL, ::fcntl(fd_.get(), F_GETFL) & ~O_DIRECT) < 0)
            throw_errno("read " + name_);
        direct_ = false;
    }

    std::string name_;
    unique_fd fd_;
    struct stat st_;
    std::uint64_t size_ = 0;
    std::atomic<bool> direct_ = false;
    std::mutex switching_;
};

void write_all(int fd, std::uint64_t offset, const std::byte* buf, std::size_t len,
               const std::string& name) {
    std::size_t done = 0;
    while (done < len) {
        ssize_t n = ::pwrite(fd, buf + done, len - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno("write " + name + " at offset " + num(offset + done));
        if (n == 0)
            throw errno_error(EIO, "write " + name + " at offset " + num(offset + done));
        done += static_cast<std::size_t>(n);
    }
}

bool all_zero(const std::byte* p, std::size_t len) {
    return len == 0 || (p[0] == std::byte{0} && std::memcmp(p, p + 1, len - 1) == 0);
}

// The errnos of a zero_range_function that mean "not here": write instead.
bool zero_range_unsupported(int err) {
    return err == EOPNOTSUPP || err == EINVAL || err == ENOTTY || err == ENOSYS;
}

// Writes len bytes of buf (read from the snapshot at offset) to the image,
// block by block: stretches of all-zero blocks go to zero_range (while it is
// supported), the others to pwrite. Returns the bytes zeroed.
class image_writer {
  public:
    image_writer(int fd, std::string name, std::uint64_t block_size, zero_range_function zero_range)
        : fd_(fd), name_(std::move(name)), block_size_(block_size),
          zero_range_(std::move(zero_range)) {}

    std::uint64_t put(std::uint64_t offset, const std::byte* buf, std::size_t len) {
        std::uint64_t zeroed = 0;
        std::size_t pos = 0;
        while (pos < len) {
            bool zero = all_zero(buf + pos, block_at(pos, len));
            std::size_t end = pos + block_at(pos, len);
            while (end < len && all_zero(buf + end, block_at(end, len)) == zero)
                end += block_at(end, len);
            if (zero && zeroing_ && zero_stretch(offset + pos, end - pos))
                zeroed += end - pos;
            else
                write_all(fd_, offset + pos, buf + pos, end - pos, name_);
            pos = end;
        }
        return zeroed;
    }

  private:
    std::size_t block_at(std::size_t pos, std::size_t len) const {
        return static_cast<std::size_t>(std::min<std::uint64_t>(block_size_, len - pos));
    }

    // True if done; false if zero_range is not supported here (never again tried).
    bool zero_stretch(std::uint64_t offset, std::uint64_t len) {
        int err = zero_range_(fd_, offset, len);
        if (err == 0)
            return true;
        if (!zero_range_unsupported(err))
            throw errno_error(err, "zero " + name_ + " at offset " + num(offset) + ", " + num(len) +
                                       " bytes");
        zeroing_ = false;
        return false;
    }

    int fd_;
    std::string name_;
    std::uint64_t block_size_;
    zero_range_function zero_range_;
    bool zeroing_ = true;
};

// The refusals that need the CoW files and the snapshot: chain, order, size.
void check_chain(const cow_chain& cows, const snapshot_identity& snap,
                 std::uint64_t snapshot_bytes) {
    const cow_link& newest = cows.newest();
    if (snap.error != 0)
        throw errno_error(snap.error, snap.name + " has failed, its data cannot be trusted");
    if (cows.uuid() != snap.uuid)
        throw errno_error(EINVAL, "different chain: " + newest.name() + " belongs to chain " +
                                      format_uuid(cows.uuid()) + ", " + snap.name + " to " +
                                      format_uuid(snap.uuid));
    if (snap.seqid == 0 || newest.seqid != snap.seqid - 1)
        throw errno_error(EINVAL, "wrong order: " + newest.name() + " is seqid " +
                                      num(newest.seqid) + ", " + snap.name + " is seqid " +
                                      num(snap.seqid) +
                                      "; apply the incrementals in order (the CoW file of seqid " +
                                      num(snap.seqid - 1) + " goes with this snapshot" +
                                      (cows.links().size() > 1 ? ", listed last)" : ")"));
    if (cows.device_bytes() != snapshot_bytes)
        throw errno_error(EINVAL, "size mismatch: " + newest.name() + " tracks " +
                                      num(cows.device_bytes()) + " bytes, " + snap.name + " is " +
                                      num(snapshot_bytes) + " bytes");
}

// Bytes the changed blocks hold, the last one clipped to the device's end.
std::uint64_t changed_bytes(const cow_chain& cows) {
    std::uint64_t bytes = cows.changed_blocks() * cows.block_size();
    std::uint64_t tail = cows.device_bytes() % cows.block_size();
    if (tail != 0 && cows.changed(cows.nr_blocks() - 1))
        bytes -= cows.block_size() - tail;
    return bytes;
}

// A CoW file given where the image belongs (a forgotten image argument)
// must not be overwritten: no device or backup image starts with its magic.
bool starts_as_cow_file(int fd) {
    std::uint64_t magic = 0;
    ssize_t n;
    do {
        n = ::pread(fd, &magic, sizeof magic, 0);
    } while (n < 0 && errno == EINTR);
    return n == sizeof magic && le64toh(magic) == BSNAP_COW_MAGIC;
}

std::vector<recovered_cow> recovered_of(const cow_chain& cows) {
    std::vector<recovered_cow> recovered;
    for (const cow_link& link : cows.links())
        if (link.recovered)
            recovered.push_back({link.path, link.intent_regions, link.region_bytes});
    return recovered;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

zero_range_function default_zero_range(bool block_device) {
    if (block_device)
        return [](int fd, std::uint64_t offset, std::uint64_t len) {
            std::uint64_t range[2] = {offset, len};
            return ::ioctl(fd, BLKZEROOUT, range) < 0 ? errno : 0;
        };
    return [](int fd, std::uint64_t offset, std::uint64_t len) {
        int rc = ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                             static_cast<off_t>(offset), static_cast<off_t>(len));
        return rc < 0 ? errno : 0;
    };
}

update_result update_image(const update_params& params, const snapshot_lookup& lookup,
                           const progress_callback& progress) {
    auto start = std::chrono::steady_clock::now();

    // 1. Checks. Nothing below opens the image for writing until they pass.
    cow_chain cows(params.cows);

    snapshot_reader snapshot(params.snapshot, "snapshot " + params.snapshot);
    snapshot_identity snap = lookup(params.snapshot, snapshot.stat());
    check_chain(cows, snap, snapshot.size());

    const std::string image_name = "image " + params.image;
    struct stat image_st;
    if (::stat(params.image.c_str(), &image_st) < 0)
        throw_errno(image_name);
    bool image_is_device = S_ISBLK(image_st.st_mode);
    if (!image_is_device && !S_ISREG(image_st.st_mode))
        throw errno_error(EINVAL, image_name + ": not a regular file or block device");
    // O_EXCL on a block device: EBUSY if it is mounted or otherwise in use.
    int excl = image_is_device ? O_EXCL : 0;
    std::uint64_t image_bytes;
    bool image_is_cow;
    {
        unique_fd probe = open_fd(params.image, O_RDONLY | excl);
        image_st = stat_fd(probe.get(), image_name);
        image_bytes = size_of(probe.get(), image_st, image_name);
        image_is_cow = starts_as_cow_file(probe.get());
    }
    if (image_is_device && snap.origin && image_st.st_rdev == *snap.origin)
        throw errno_error(EINVAL, image_name + " is the snapshot's origin device, not a backup");
    auto is_image = [&image_st](const cow_link& cow) {
        return S_ISREG(image_st.st_mode) && image_st.st_dev == cow.dev &&
               image_st.st_ino == cow.ino;
    };
    if (same_file(image_st, snapshot.stat()) ||
        std::any_of(cows.links().begin(), cows.links().end(), is_image))
        throw errno_error(EINVAL, image_name + " is the snapshot or a CoW file itself");
    if (image_is_cow)
        throw errno_error(EINVAL, image_name +
                                      " is a bsnap CoW file, not a backup (the image is the "
                                      "last argument, after the CoW files)");
    if (image_bytes != snapshot.size())
        throw errno_error(EINVAL, "size mismatch: " + image_name + " is " + num(image_bytes) +
                                      " bytes, " + snap.name + " is " + num(snapshot.size()) +
                                      " bytes");

    // 2. Copy.
    unique_fd image = open_fd(params.image, O_WRONLY | excl);
    if (!same_file(stat_fd(image.get(), image_name), image_st))
        throw errno_error(EAGAIN, image_name + " was replaced while it was checked");

    const std::uint64_t block_size = cows.block_size();
    image_writer writer(image.get(), image_name, block_size,
                        params.zero_range ? params.zero_range
                                          : default_zero_range(image_is_device));
    const plan_limits limits{std::max(params.max_io, block_size), params.max_gap};
    copy_planner planner(cows.runs(), block_size, cows.device_bytes(), limits);
    pipeline_options pipe;
    pipe.buffer_bytes = limits.max_io / block_size * block_size;
    pipe.readers = std::max(1u, params.readers);
    pipe.buffers = pipe.readers + 2; // the writer's, and one read ahead of it
    std::uint64_t bytes_zeroed = 0;
    std::uint64_t bytes_read = 0;

    copy_progress state;
    state.blocks_total = cows.changed_blocks();
    state.bytes_total = changed_bytes(cows);
    run_copy_pipeline(
        pipe, [&planner] { return planner.next(); },
        [&snapshot](const copy_extent& extent, std::byte* buf) {
            snapshot.read_exact(extent.read.offset, buf, extent.read.length);
        },
        [&](const copy_extent& extent, const std::byte* buf) {
            for (const byte_range& run : extent.changed) {
                bytes_zeroed +=
                    writer.put(run.offset, buf + (run.offset - extent.read.offset), run.length);
                state.bytes_done += run.length;
            }
            state.blocks_done += extent.changed_blocks;
            bytes_read += extent.read.length;
            if (progress) {
                state.seconds = seconds_since(start);
                progress(state);
            }
        });

    // 3. Success only once the data is on disk (dattobd #301/#341).
    if (::fsync(image.get()) < 0)
        throw_errno("fsync " + image_name);
    if (::close(image.release()) < 0 && errno != EINTR)
        throw_errno("close " + image_name);

    // A snapshot that failed during the copy may have returned wrong data
    // (with ignore-errors, its reads succeed).
    snapshot_identity after = lookup(params.snapshot, snapshot.stat());
    if (after.error != 0)
        throw errno_error(after.error,
                          snap.name + " failed during the copy: " + image_name + " is incomplete");
    if (after.uuid != snap.uuid || after.seqid != snap.seqid)
        throw errno_error(EIO,
                          snap.name + " changed during the copy: " + image_name + " is incomplete");

    update_result result;
    result.blocks = state.blocks_done;
    result.bytes = state.bytes_done;
    result.seconds = seconds_since(start);
    result.bytes_zeroed = bytes_zeroed;
    result.bytes_read = bytes_read;
    result.recovered = recovered_of(cows);
    if (progress) {
        state.seconds = result.seconds;
        progress(state);
    }
    return result;
}

std::string summary_line(const update_result& result) {
    auto in_mib = [](std::uint64_t bytes) {
        return static_cast<double>(bytes) / static_cast<double>(mib);
    };
    double mib_copied = in_mib(result.bytes);
    double rate = result.seconds > 0 ? mib_copied / result.seconds : 0;
    char read[64] = "";
    if (result.bytes_read > result.bytes)
        std::snprintf(read, sizeof read, "; %.1f MiB read", in_mib(result.bytes_read));
    char text[240];
    std::snprintf(text, sizeof text,
                  "update-img: copied %llu blocks (%.1f MiB: %.1f MiB written, %.1f MiB zeroed%s) "
                  "in %.2f s (%.1f MiB/s)",
                  static_cast<unsigned long long>(result.blocks), mib_copied,
                  in_mib(result.bytes - result.bytes_zeroed), in_mib(result.bytes_zeroed), read,
                  result.seconds, rate);
    return text;
}

std::string recovered_line(const recovered_cow& cow) {
    return "update-img: CoW file " + cow.path +
           " was not closed cleanly (a crash): the incremental is a superset of the changes, "
           "with every block of its " +
           std::to_string(cow.regions) + " write-intent region" + (cow.regions == 1 ? "" : "s") +
           " of " + format_size(cow.region_bytes);
}

std::string progress_line(const copy_progress& progress) {
    unsigned percent =
        progress.bytes_total == 0
            ? 100
            : static_cast<unsigned>(progress.bytes_done * 100 / progress.bytes_total);
    double rate = progress.seconds > 0 ? static_cast<double>(progress.bytes_done) /
                                             static_cast<double>(mib) / progress.seconds
                                       : 0;
    char text[64];
    std::snprintf(text, sizeof text, ", %.1f MiB/s", rate);
    return "update-img: " +
           std::string(percent < 10    ? "  "
                       : percent < 100 ? " "
                                       : "") +
           std::to_string(percent) + "% " + format_size(progress.bytes_done) + " of " +
           format_size(progress.bytes_total) + text;
}

} // namespace bsnap::upd
