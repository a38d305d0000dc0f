/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Events for userspace (bsnapd): a uevent, action "change", on the control
 * device (subsystem misc, bsnap-ctl); names and keys are the contract in
 * uapi/bsnap.h (BSNAP_EVENT_*, BSNAP_UEVENT_*).
 *
 * Events are a hint to re-read /proc/bsnap-info, never the only record: one
 * that cannot be allocated is dropped and counted. Callable in any context;
 * sent from a worker, outside every bsnap and filesystem lock.
 */
#ifndef BSNAP_EVENTS_H
#define BSNAP_EVENTS_H

#include <linux/types.h>

struct kobject;

/* Events are sent on @kobj (the control device's). */
int bsnap_events_init(struct kobject *kobj);
/* Sends what is queued, then no more. */
void bsnap_events_exit(void);
/* @event: a BSNAP_EVENT_* name; @state the uapi bits, @error <= 0. */
void bsnap_event(unsigned int minor, u32 state, int error, const char *event);
/* Events that could not be allocated since the module was loaded. */
unsigned long bsnap_events_dropped(void);

#endif
