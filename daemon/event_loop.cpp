#include "event_loop.hpp"

#include "log.hpp"

#include <bsnap/errors.hpp>
#include <bsnap/proc_info.hpp>
#include <charconv>
#include <csignal>
#include <cstring>
#include <libmount/libmount.h>
#include <map>
#include <memory>
#include <systemd/sd-daemon.h>
#include <systemd/sd-device.h>
#include <systemd/sd-event.h>

namespace bsnap::daemon {

namespace {

template <auto unref>
struct unref_deleter {
    template <typename T>
    void operator()(T* p) const {
        unref(p);
    }
};

using event_ptr = std::unique_ptr<sd_event, unref_deleter<sd_event_unref>>;
using source_ptr = std::unique_ptr<sd_event_source, unref_deleter<sd_event_source_unref>>;
using device_monitor_ptr =
    std::unique_ptr<sd_device_monitor, unref_deleter<sd_device_monitor_unref>>;
using mount_monitor_ptr = std::unique_ptr<libmnt_monitor, unref_deleter<mnt_unref_monitor>>;

// sd-* calls return a negative errno.
void check(int result, const char* what) {
    if (result < 0)
        throw errno_error(-result, what);
}

// A sync shortly after the first of a burst of events (an umount brings a
// mount change and a module event together).
constexpr std::uint64_t settle_usec = 200'000;

class event_loop {
  public:
    event_loop(state_keeper& keeper, std::chrono::seconds interval,
               const cow_grow_options& cow_grow)
        : keeper_(keeper), interval_usec_(static_cast<std::uint64_t>(interval.count()) * 1'000'000),
          cow_grow_(cow_grow), cow_grow_actions_(system_cow_grow_actions()) {
        sd_event* e = nullptr;
        check(sd_event_default(&e), "sd_event_default");
        event_.reset(e);

        // sd-event needs the signals blocked; they stay blocked for the process.
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, nullptr);
        term_ = add_signal(SIGTERM);
        int_ = add_signal(SIGINT);

        add_device_monitor();
        add_mount_monitor();

        sd_event_source* s = nullptr;
        check(sd_event_add_time(event_.get(), &s, CLOCK_MONOTONIC, UINT64_MAX, 0, on_settle, this),
              "add settle timer");
        settle_.reset(s);
        check(sd_event_source_set_enabled(s, SD_EVENT_OFF), "disable settle timer");
        check(sd_event_add_time(event_.get(), &s, CLOCK_MONOTONIC, now() + interval_usec_, 0,
                                on_tick, this),
              "add periodic timer");
        tick_.reset(s);
    }

    int run() {
        status();
        sd_notify(0, "READY=1");
        log_info("bsnapd running: state file in step with the module");
        int r = sd_event_loop(event_.get());
        sd_notify(0, "STOPPING=1");
        if (r < 0) {
            log_error(std::string("event loop failed: ") + std::strerror(-r));
            return 1;
        }
        keeper_.sync("stop");
        log_info("bsnapd stopped");
        return 0;
    }

  private:
    std::uint64_t now() {
        std::uint64_t t = 0;
        sd_event_now(event_.get(), CLOCK_MONOTONIC, &t);
        return t;
    }

    source_ptr add_signal(int sig) {
        sd_event_source* s = nullptr;
        check(sd_event_add_signal(event_.get(), &s, sig, on_signal, this), "add signal");
        return source_ptr(s);
    }

    void add_device_monitor() {
        sd_device_monitor* m = nullptr;
        int r = sd_device_monitor_new(&m);
        if (r < 0) {
            log_warning(std::string("no module events (sd_device_monitor_new: ") +
                        std::strerror(-r) + "): the periodic re-read only");
            return;
        }
        monitor_.reset(m);
        check(sd_device_monitor_filter_add_match_subsystem_devtype(m, "misc", nullptr),
              "device monitor filter");
        check(sd_device_monitor_attach_event(m, event_.get()), "attach device monitor");
        check(sd_device_monitor_start(m, on_device, this), "start device monitor");
    }

    void add_mount_monitor() {
        mount_monitor_.reset(mnt_new_monitor());
        if (!mount_monitor_)
            throw errno_error(ENOMEM, "mnt_new_monitor");
        check(mnt_monitor_enable_kernel(mount_monitor_.get(), 1), "libmount kernel monitor");
        int fd = mnt_monitor_get_fd(mount_monitor_.get());
        check(fd, "libmount monitor fd");
        sd_event_source* s = nullptr;
        check(sd_event_add_io(event_.get(), &s, fd, EPOLLIN, on_mount, this), "add mount monitor");
        mount_source_.reset(s);
    }

    void schedule_sync(const std::string& reason) {
        if (pending_reason_.empty())
            pending_reason_ = reason;
        int enabled = SD_EVENT_OFF;
        sd_event_source_get_enabled(settle_.get(), &enabled);
        if (enabled != SD_EVENT_OFF)
            return;
        sd_event_source_set_time(settle_.get(), now() + settle_usec);
        sd_event_source_set_enabled(settle_.get(), SD_EVENT_ONESHOT);
    }

    void status() {
        std::string text = "STATUS=" + std::to_string(keeper_.traced_count()) +
                           " traced devices, " + std::to_string(keeper_.current().devices.size()) +
                           " in the state file";
        sd_notify(0, text.c_str());
    }

    static int on_signal(sd_event_source* s, const struct signalfd_siginfo* si, void*) {
        log_info(si->ssi_signo == SIGTERM ? "stopping on SIGTERM" : "stopping on SIGINT");
        sd_event_exit(sd_event_source_get_event(s), 0);
        return 0;
    }

    static int on_device(sd_device_monitor*, sd_device* device, void* data) {
        auto* self = static_cast<event_loop*>(data);
        const char* sysname = nullptr;
        if (sd_device_get_sysname(device, &sysname) < 0 || std::strcmp(sysname, "bsnap-ctl") != 0)
            return 0;
        auto property = [device](const char* key) {
            const char* value = nullptr;
            return sd_device_get_property_value(device, key, &value) >= 0 && value
                       ? std::string(value)
                       : std::string();
        };
        std::string event = property(BSNAP_UEVENT_EVENT);
        std::string action = property("ACTION");
        if (event.empty()) {
            // add/remove of the control device: the module was loaded or unloaded.
            log_info("module " + std::string(action == "remove" ? "unloaded" : "loaded"));
            self->schedule_sync("module " + action);
            return 0;
        }
        std::string text = "module event " + event + ": minor " + property(BSNAP_UEVENT_MINOR) +
                           ", state " + property(BSNAP_UEVENT_STATE);
        std::string error = property(BSNAP_UEVENT_ERROR);
        if (!error.empty() && error != "0")
            text += ", error " + error;
        if (event == BSNAP_EVENT_COW_LOW)
            self->on_cow_low(text, property(BSNAP_UEVENT_MINOR));
        else if (event == BSNAP_EVENT_EXPANDED)
            log_info(text + ": CoW file grown");
        else
            log_info(text);
        self->schedule_sync("event " + event);
        return 0;
    }

    // The CoW file of a snapshot is BSNAP_COW_LOW_PERCENT full: grow it, or
    // say loudly that the snapshot is about to fail while there is still
    // time to finish reading it. The module sends the event again once a
    // grown file is that full.
    void on_cow_low(const std::string& text, const std::string& minor_text) {
        if (!cow_grow_.enabled) {
            log_warning(text + ": the CoW file is " + std::to_string(BSNAP_COW_LOW_PERCENT) +
                        " % full; the snapshot fails when it fills "
                        "(finish reading /dev/bsnap" +
                        minor_text +
                        ", run bsnapctl expand-cow-file, or take it again with a "
                        "larger -f; bsnapd runs with --no-cow-grow)");
            return;
        }
        log_info(text + ": the CoW file is " + std::to_string(BSNAP_COW_LOW_PERCENT) +
                 " % full, growing it");
        unsigned minor = 0;
        auto [end, ec] =
            std::from_chars(minor_text.data(), minor_text.data() + minor_text.size(), minor);
        if (ec != std::errc() || end != minor_text.data() + minor_text.size()) {
            log_warning(text + ": no valid minor in the event ('" + minor_text +
                        "'): the CoW file is not grown");
            return;
        }
        // In the loop itself: it takes a mount and a few ioctls, and events
        // meanwhile wait in the monitor's socket.
        grow_on_cow_low(minor, cow_grow_, cow_grow_actions_);
    }

    static int on_mount(sd_event_source*, int, uint32_t, void* data) {
        auto* self = static_cast<event_loop*>(data);
        const char* filename = nullptr;
        int type = 0;
        while (mnt_monitor_next_change(self->mount_monitor_.get(), &filename, &type) == 0) {
        }
        self->schedule_sync("mount change");
        return 0;
    }

    static int on_settle(sd_event_source*, uint64_t, void* data) {
        auto* self = static_cast<event_loop*>(data);
        std::string reason = std::move(self->pending_reason_);
        self->pending_reason_.clear();
        self->keeper_.sync(reason);
        self->status();
        return 0;
    }

    // Events are hints the module may drop: each tick also looks at every
    // snapshot's fill level itself (cow_low_to_grow).
    void check_cow_low() {
        if (!cow_grow_.enabled)
            return;
        std::vector<device_info> devices;
        try {
            devices = read_proc_info().devices;
        } catch (const std::exception&) {
            return; // not loaded: nothing to grow (the sync logs the module's absence)
        }
        for (unsigned minor : cow_low_to_grow(devices, cow_low_tried_)) {
            log_info("minor " + std::to_string(minor) + ": the CoW file is " +
                     std::to_string(BSNAP_COW_LOW_PERCENT) +
                     " % full (periodic check), growing it");
            grow_on_cow_low(minor, cow_grow_, cow_grow_actions_);
        }
    }

    static int on_tick(sd_event_source* s, uint64_t usec, void* data) {
        auto* self = static_cast<event_loop*>(data);
        self->keeper_.sync("periodic");
        self->keeper_.check_stale();
        self->check_cow_low();
        self->status();
        sd_event_source_set_time(s, usec + self->interval_usec_);
        sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
    }

    state_keeper& keeper_;
    std::uint64_t interval_usec_;
    cow_grow_options cow_grow_;
    cow_grow_actions cow_grow_actions_;
    std::map<unsigned, std::uint64_t> cow_low_tried_; // minor -> file size tried by a tick
    std::string pending_reason_;
    event_ptr event_;                 // destroyed last
    mount_monitor_ptr mount_monitor_; // outlives the source watching its fd
    device_monitor_ptr monitor_;
    source_ptr term_, int_, settle_, tick_, mount_source_;
};

} // namespace

int run_event_loop(state_keeper& keeper, std::chrono::seconds interval,
                   const cow_grow_options& cow_grow) {
    event_loop loop(keeper, interval, cow_grow);
    return loop.run();
}

} // namespace bsnap::daemon
