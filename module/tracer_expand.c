// SPDX-License-Identifier: GPL-2.0
/*
 * expand-cow-file: grow the CoW file of a running snapshot before it fills
 * (bsnapd does it when the "cow-low" event comes, see cow_store.h).
 *
 * The caller passes the CoW file open (read-only is enough: the file is
 * immutable while in use). That gives the mount to allocate through, which
 * bsnap, holding only a dentry, does not have; and it proves the caller
 * found the right file, which is checked against the inode bsnap holds.
 */
#include "log.h"

#include <linux/file.h>
#include <linux/fs.h>

#include "cow_file.h"
#include "cow_store.h"
#include "events.h"
#include "tracer.h"

/* The tracer's CoW file is @f and can grow now; fs mutex held. */
static int expand_check(struct tracer *t, struct file *f)
{
	struct cow_file *cf = t->store->cf;

	if (!(t->state & BSNAP_STATE_ACTIVE) || !cf->dentry) {
		pr_err("bsnap%u: the filesystem is not mounted read-write, the CoW file cannot grow\n",
		       t->minor);
		return -EROFS;
	}
	if (d_inode(cf->dentry) != file_inode(f)) {
		pr_err("bsnap%u: the file given is not the device's CoW file\n",
		       t->minor);
		return -EINVAL;
	}
	return 0;
}

int tracer_expand_cow(const struct bsnap_expand_cow *arg)
{
	struct tracer *t;
	struct file *f;
	u64 grow;
	int ret;

	if (arg->reserved || !arg->grow_bytes ||
	    arg->grow_bytes > U64_MAX - BSNAP_COW_BLOCK_SIZE)
		return -EINVAL;
	t = tracer_find_minor(arg->minor);
	if (!t)
		return arg->minor >= BSNAP_MAX_MINORS ? -EINVAL : -ENOENT;
	if (!(t->state & BSNAP_STATE_SNAPSHOT) || !t->pipe) {
		pr_err("bsnap%u: not a snapshot, its CoW file holds no data\n",
		       t->minor);
		return -EINVAL;
	}
	if (tracer_error(t)) {
		pr_err("bsnap%u: the snapshot has failed (%d), growing its CoW file would not bring it back\n",
		       t->minor, tracer_error(t));
		return -EINVAL;
	}
	grow = round_up(arg->grow_bytes, BSNAP_COW_BLOCK_SIZE);

	f = fget(arg->fd);
	if (!f)
		return -EBADF;
	mutex_lock(&bsnap_fs_mutex);
	ret = expand_check(t, f);
	mutex_unlock(&bsnap_fs_mutex);
	/*
	 * The open file keeps the filesystem mounted until fput(), so it
	 * cannot go dormant in between (the control mutex keeps out
	 * transitions and destroy).
	 */
	if (!ret)
		ret = cow_store_grow(t->store, f, grow, t->cbt);
	fput(f);
	if (ret == -ESTALE) {
		/* The file is no longer what bsnap mapped: stop using it. */
		tracer_set_error(t, ret);
		tracer_break_chain(t, ret);
	}
	if (ret)
		return ret;

	mutex_lock(&t->seal_mutex);
	if (!t->sealed)
		ret = cow_store_write_meta(t->store, t->cbt,
					   tracer_cow_flags(t), false);
	mutex_unlock(&t->seal_mutex);
	if (ret)
		pr_warn("bsnap%u: CoW header update after growth failed: %d\n",
			t->minor, ret);
	pr_info("bsnap%u: CoW file grown by %llu bytes to %llu\n", t->minor,
		grow, t->store->cf->size);
	bsnap_event(t, "expanded");
	return 0;
}
