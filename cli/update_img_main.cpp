// update-img: parse the command line, check and copy (update_img.hpp), report
// progress on a terminal and a summary line, or one error line on stderr and
// an exit status (update_img_command_line.hpp).
#include "snapshot_device.hpp"
#include "update_img.hpp"
#include "update_img_command_line.hpp"

#include <bsnap/errors.hpp>
#include <bsnap/version.hpp>
#include <cerrno>
#include <chrono>
#include <iostream>
#include <unistd.h>

namespace {

// Redraws one stderr line at most every 200 ms, and on the final call.
class progress_bar {
  public:
    void operator()(const bsnap::upd::copy_progress& progress) {
        auto now = std::chrono::steady_clock::now();
        bool last = progress.bytes_done == progress.bytes_total;
        if (!last && drawn_ && now - last_draw_ < std::chrono::milliseconds(200))
            return;
        std::cerr << "\r\033[K" << bsnap::upd::progress_line(progress) << std::flush;
        last_draw_ = now;
        drawn_ = true;
    }
    // Leaves the terminal's line empty.
    void clear() {
        if (drawn_)
            std::cerr << "\r\033[K" << std::flush;
        drawn_ = false;
    }

  private:
    std::chrono::steady_clock::time_point last_draw_;
    bool drawn_ = false;
};

} // namespace

int main(int argc, char** argv) {
    using namespace bsnap::upd;
    progress_bar bar;
    try {
        update_img_args args =
            parse_update_img_args(std::vector<std::string>(argv + 1, argv + argc));
        if (args.help) {
            std::cout << update_img_help();
        } else if (args.version) {
            std::cout << "update-img " << bsnap::tool_version() << "\n";
        } else {
            progress_callback progress;
            if (!args.quiet && ::isatty(STDERR_FILENO))
                progress = [&bar](const copy_progress& p) { bar(p); };
            update_params params{args.snapshot, args.cows, args.image};
            update_result result = update_image(
                params,
                [](const std::string& path, const struct stat& st) {
                    return identify_bsnap_snapshot(path, st);
                },
                progress);
            bar.clear();
            if (!args.quiet) {
                for (const recovered_cow& cow : result.recovered)
                    std::cout << recovered_line(cow) << "\n";
                std::cout << summary_line(result) << "\n";
            }
        }
        errno = 0;
        std::cout.flush();
        if (!std::cout)
            throw bsnap::errno_error(errno != 0 ? errno : EIO, "write to standard output");
        return 0;
    } catch (...) {
        bar.clear();
        failure f = describe_failure(std::current_exception());
        std::cerr << f.message << std::endl;
        return f.status;
    }
}
