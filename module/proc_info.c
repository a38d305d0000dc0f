// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/bsnap-info: one JSON document describing the module and every traced
 * device, a document of docs/bsnap-info.schema.json (BSNAP_INFO_FORMAT; the
 * schema's error_text is bsnapctl's: the kernel has no strerror). Readable
 * by root only: it names every CoW file (even one inside a 0700 directory),
 * and each read takes the control mutex.
 */
#include "log.h"

#include <linux/proc_fs.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <uapi/bsnap.h>

#include "cbt_map.h"
#include "events.h"
#include "json_out.h"
#include "proc_info.h"
#include "tracer.h"
#include "version.h"

/* format_version of docs/bsnap-info.schema.json */
#define BSNAP_INFO_FORMAT 1

struct proc_walk {
	struct seq_file *m;
	struct bsnap_info info;
	bool first;
};

static const char *mode_name(u32 state)
{
	return state & BSNAP_STATE_SNAPSHOT ? "snapshot" : "incremental";
}

static const char *activity_name(u32 state)
{
	if (state & BSNAP_STATE_UNVERIFIED)
		return "unverified";
	return state & BSNAP_STATE_ACTIVE ? "active" : "dormant";
}

/* "ENOSPC" for 28 (%pe names it), "" for 0 or a number it cannot name. */
static void print_errno_name(struct seq_file *m, int err)
{
	char name[32] = "";

	if (err > 0)
		snprintf(name, sizeof(name), "%pe", ERR_PTR(-err));
	seq_printf(m, "\"%s\"", name[0] == '-' && name[1] == 'E' ? name + 1 : "");
}

static void proc_device(struct tracer *t, void *arg)
{
	struct proc_walk *w = arg;
	struct bsnap_info *i = &w->info;
	struct seq_file *m = w->m;

	/* Each entry from scratch: nothing of the previous device shows. */
	memset(i, 0, sizeof(*i));
	if (tracer_fill_info(t->minor, i))
		return;
	seq_printf(m, "%s\n\t\t{\n\t\t\t\"minor\": %u,\n", w->first ? "" : ",",
		   i->minor);
	w->first = false;
	seq_printf(m, "\t\t\t\"state\": %u,\n\t\t\t\"mode\": \"%s\",\n",
		   i->state, mode_name(i->state));
	seq_printf(m, "\t\t\t\"activity\": \"%s\",\n", activity_name(i->state));
	seq_printf(m, "\t\t\t\"failed\": %s,\n",
		   i->state & BSNAP_STATE_FAILED ? "true" : "false");
	seq_printf(m, "\t\t\t\"state_name\": \"%s%s %s\",\n",
		   i->state & BSNAP_STATE_FAILED ? "failed " : "",
		   activity_name(i->state), mode_name(i->state));
	/* Positive, as everywhere in the schema; the ioctl keeps it negative. */
	seq_printf(m, "\t\t\t\"error\": %d,\n\t\t\t\"error_name\": ", -i->error);
	print_errno_name(m, -i->error);
	seq_puts(m, ",\n");
	seq_puts(m, "\t\t\t\"bdev\": ");
	bsnap_json_string(m, i->bdev_path);
	seq_puts(m, ",\n\t\t\t\"cow\": ");
	bsnap_json_string(m, i->cow_path);
	seq_printf(m, ",\n\t\t\t\"device_sectors\": %llu,\n", i->device_sectors);
	seq_printf(m, "\t\t\t\"block_size\": %u,\n", i->block_size);
	seq_printf(m, "\t\t\t\"changed_blocks\": %llu,\n", i->changed_blocks);
	seq_printf(m, "\t\t\t\"falloc_size\": %llu,\n", i->falloc_size);
	seq_printf(m, "\t\t\t\"cow_used_bytes\": %llu,\n", i->cow_used_bytes);
	seq_printf(m, "\t\t\t\"cow_free_bytes\": %llu,\n", i->cow_free_bytes);
	seq_printf(m, "\t\t\t\"cow_data_bytes\": %llu,\n", i->cow_data_bytes);
	seq_printf(m, "\t\t\t\"cache_size\": %llu,\n", i->cache_size);
	/* Kernel memory of the change map (the control mutex keeps it). */
	seq_printf(m, "\t\t\t\"cbt_bytes\": %llu,\n",
		   t->cbt ? cbt_map_mem_bytes(t->cbt) : 0);
	seq_printf(m, "\t\t\t\"ignore_errors\": %s,\n",
		   i->flags & BSNAP_FLAG_IGNORE_ERRORS ? "true" : "false");
	seq_printf(m, "\t\t\t\"seqid\": %llu,\n", i->seqid);
	seq_printf(m, "\t\t\t\"uuid\": \"%pUb\"\n\t\t}", i->uuid);
}

static int proc_info_show(struct seq_file *m, void *v)
{
	struct proc_walk *w;

	w = kzalloc(sizeof(*w), GFP_KERNEL);
	if (!w)
		return -ENOMEM;
	w->m = m;
	w->first = true;
	seq_printf(m, "{\n\t\"format_version\": %d,\n\t\"version\": ",
		   BSNAP_INFO_FORMAT);
	bsnap_json_string(m, BSNAP_VERSION);
	seq_printf(m, ",\n\t\"abi_version\": %u,\n", BSNAP_ABI_VERSION);
	seq_printf(m, "\t\"events_dropped\": %lu,\n", bsnap_events_dropped());
	seq_puts(m, "\t\"devices\": [");
	mutex_lock(&bsnap_ctl_mutex);
	tracer_for_each(proc_device, w);
	mutex_unlock(&bsnap_ctl_mutex);
	seq_puts(m, "\n\t]\n}\n");
	kfree(w);
	return 0;
}

int bsnap_proc_init(void)
{
	if (!proc_create_single(BSNAP_PROC_NAME, 0400, NULL, proc_info_show)) {
		pr_err("cannot create /proc/%s\n", BSNAP_PROC_NAME);
		return -ENOMEM;
	}
	return 0;
}

void bsnap_proc_exit(void)
{
	remove_proc_entry(BSNAP_PROC_NAME, NULL);
}
