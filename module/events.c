// SPDX-License-Identifier: GPL-2.0
/*
 * Events for userspace: see events.h.
 */
#include "log.h"

#include <linux/device.h>
#include <linux/kobject.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <uapi/bsnap.h>

#include "events.h"

struct bsnap_event {
	struct work_struct work;
	const char *name;	/* a string literal */
	unsigned int minor;
	u32 state;
	int error;
};

static struct workqueue_struct *event_wq;
static struct kobject *event_kobj;
static atomic_long_t events_dropped = ATOMIC_LONG_INIT(0);

static void event_send(struct work_struct *work)
{
	struct bsnap_event *e = container_of(work, struct bsnap_event, work);
	char event[40], minor[32], state[32], error[32];
	char *envp[5];

	snprintf(event, sizeof(event), BSNAP_UEVENT_EVENT "=%s", e->name);
	snprintf(minor, sizeof(minor), BSNAP_UEVENT_MINOR "=%u", e->minor);
	snprintf(state, sizeof(state), BSNAP_UEVENT_STATE "=%u", e->state);
	snprintf(error, sizeof(error), BSNAP_UEVENT_ERROR "=%d", -e->error);
	envp[0] = event;
	envp[1] = minor;
	envp[2] = state;
	envp[3] = error;
	envp[4] = NULL;
	kobject_uevent_env(event_kobj, KOBJ_CHANGE, envp);
	kfree(e);
}

void bsnap_event(unsigned int minor, u32 state, int error, const char *name)
{
	struct bsnap_event *e = kmalloc(sizeof(*e), GFP_ATOMIC);

	if (!e) {
		atomic_long_inc(&events_dropped);
		return;
	}
	INIT_WORK(&e->work, event_send);
	e->name = name;
	e->minor = minor;
	e->state = state;
	e->error = error;
	queue_work(event_wq, &e->work);
}

unsigned long bsnap_events_dropped(void)
{
	return atomic_long_read(&events_dropped);
}

int bsnap_events_init(struct kobject *kobj)
{
	event_kobj = kobj;
	/* Ordered: userspace sees events in the order they happened. */
	event_wq = alloc_ordered_workqueue("bsnap_events", 0);
	return event_wq ? 0 : -ENOMEM;
}

void bsnap_events_exit(void)
{
	destroy_workqueue(event_wq);
}
