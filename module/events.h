/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Events for userspace (bsnapd): a uevent, action "change", on the control
 * device (subsystem misc, bsnap-ctl) with BSNAP_EVENT (setup, active,
 * dormant, unverified, failed, transition, destroyed, cow-low: the CoW
 * file's data area is BSNAP_COW_LOW_PERCENT full, expanded), BSNAP_MINOR,
 * BSNAP_STATE (state bits) and BSNAP_ERROR (positive errno or 0).
 *
 * Events are a hint to re-read /proc/bsnap-info, never the only record: one
 * that cannot be allocated is dropped. Callable in any context; sent from a
 * worker, outside every bsnap and filesystem lock.
 */
#ifndef BSNAP_EVENTS_H
#define BSNAP_EVENTS_H

struct tracer;

int bsnap_events_init(void);
/* Sends what is queued, then no more. */
void bsnap_events_exit(void);
void bsnap_event(const struct tracer *t, const char *event);

#endif
