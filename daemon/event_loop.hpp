// bsnapd's main loop on sd-event: module uevents (sd_device_monitor on
// subsystem "misc", sysname bsnap-ctl), mount changes (libmount's monitor of
// /proc/self/mountinfo), a periodic re-read (events can be dropped), and
// SIGTERM/SIGINT for a clean stop. Every event only schedules a sync: the
// module's /proc/bsnap-info is read again, never trusted from the event
// (but "cow-low" also grows the CoW file of the minor it names).
// Tells systemd READY=1 after the first sync and STOPPING=1 on the way out.
#pragma once

#include "cow_grower.hpp"
#include "state_keeper.hpp"

#include <chrono>

namespace bsnap::daemon {

// Returns the exit status (0 after SIGTERM). A "cow-low" event grows the
// snapshot's CoW file as cow_grow says (cow_grower.hpp).
int run_event_loop(state_keeper& keeper, std::chrono::seconds interval,
                   const cow_grow_options& cow_grow);

} // namespace bsnap::daemon
