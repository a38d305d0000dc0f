// SPDX-License-Identifier: GPL-2.0
/*
 * Mount, remount and umount of a traced filesystem: the active <-> dormant
 * half of the state machine, driven by the mount hooks (mount_hook.c).
 *
 * Tracing itself never depends on the filesystem (CoW I/O goes to the CoW
 * file's sectors), so these only manage the hold on the CoW file and the
 * header:
 *  - the superblock goes away (the last mount of it, however it went:
 *    umount, lazy umount, a mount namespace torn down): before the
 *    filesystem drops its dentries, let go of the CoW file's dentry; after
 *    it has written its last block, seal the header -> dormant;
 *  - it becomes read-only: seal -> dormant, the dentry stays;
 *  - it is mounted or remounted read-write: find the CoW file again by its
 *    path inside the filesystem, check it has the same extents, pin it ->
 *    active (from dormant or, after reload, from unverified).
 * Everything runs under s_umount and bsnap_fs_mutex (see tracer.h).
 */
#include "log.h"

#include <linux/fs.h>
#include <linux/module.h>

#include "cow_file.h"
#include "cow_store.h"
#include "tracer.h"

void tracer_get_module(struct tracer *t)
{
	if (!t->holds_module && try_module_get(THIS_MODULE))
		t->holds_module = true;
}

void tracer_put_module(struct tracer *t)
{
	if (t->holds_module)
		module_put(THIS_MODULE);
	t->holds_module = false;
}

static struct tracer *tracer_of_sb(struct super_block *sb)
{
	lockdep_assert_held(&bsnap_fs_mutex);
	if (!sb->s_bdev)
		return NULL;
	return tracer_find_dev(sb->s_bdev->bd_dev);
}

void tracer_sb_shutdown_begin(struct super_block *sb)
{
	struct tracer *t;

	mutex_lock(&bsnap_fs_mutex);
	t = tracer_of_sb(sb);
	if (t && t->store && cow_file_attached_to(t->store->cf, sb)) {
		cow_file_detach(t->store->cf);
		/* "dormant" is sent in the second half, after sealing. */
		tracer_set_state(t, t->mode, TRACER_DORMANT, NULL);
		t->umounting = true;
		tracer_put_module(t);
	}
	mutex_unlock(&bsnap_fs_mutex);
}

void tracer_sb_shutdown_end(dev_t dev)
{
	struct tracer *t;

	mutex_lock(&bsnap_fs_mutex);
	t = tracer_find_dev(dev);
	if (t && t->umounting) {
		t->umounting = false;
		if (!tracer_seal(t))
			pr_info("bsnap%u: dormant (unmounted)\n", t->minor);
		else
			pr_warn("bsnap%u: dormant (unmounted), CoW file not sealed\n",
				t->minor);
		tracer_event(t, BSNAP_EVENT_DORMANT);
	}
	mutex_unlock(&bsnap_fs_mutex);
}

/* A read-write filesystem on @t's device: hold the CoW file again. */
static void tracer_activate(struct tracer *t, struct super_block *sb)
{
	struct cow_file *cf = t->store->cf;
	int ret;

	if (!cf->dentry) {
		ret = cow_file_attach(cf, sb->s_root, t->fs_path);
		if (ret) {
			pr_err("bsnap%u: CoW file %s is missing or was moved (%d): take a full backup\n",
			       t->minor, t->fs_path, ret);
			tracer_break_chain(t, ret);
			return;
		}
		tracer_get_module(t);
	}
	if (t->cond != TRACER_ACTIVE) {
		pr_info("bsnap%u: active\n", t->minor);
		tracer_set_state(t, t->mode, TRACER_ACTIVE, BSNAP_EVENT_ACTIVE);
	}
}

void tracer_sb_changed(struct super_block *sb)
{
	struct tracer *t;

	mutex_lock(&bsnap_fs_mutex);
	t = tracer_of_sb(sb);
	if (!t || !t->store || t->chain_broken)
		goto out;
	if (!sb_rdonly(sb)) {
		tracer_activate(t, sb);
	} else if (cow_file_attached_to(t->store->cf, sb) &&
		   t->cond == TRACER_ACTIVE) {
		tracer_set_state(t, t->mode, TRACER_DORMANT, NULL);
		if (!tracer_seal(t))
			pr_info("bsnap%u: dormant (read-only)\n", t->minor);
		tracer_event(t, BSNAP_EVENT_DORMANT);
	}
out:
	mutex_unlock(&bsnap_fs_mutex);
}
