// SPDX-License-Identifier: GPL-2.0
/*
 * Growing the CoW file of a running snapshot before it fills: bsnapd does it
 * when the "cow-low" event comes (bsnapctl expand-cow-file by hand). Two
 * ioctls, because the module alone cannot tell which new blocks are safe to
 * write (cow_slots.h): expand-cow allocates, cow-usable names the part of
 * the new space that the snapshot's filesystem had free.
 *
 * The caller passes the CoW file open (read-only is enough: the file is
 * immutable while in use). That gives the mount to allocate through, which
 * bsnap, holding only a dentry, does not have; and it proves the caller
 * found the right file, which is checked against the inode bsnap holds.
 */
#include "log.h"

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "cow_file.h"
#include "cow_store.h"
#include "tracer.h"

/* The snapshot of @minor, running and not failed; else an errno. */
static struct tracer *expand_find(unsigned int minor, int *err)
{
	struct tracer *t = tracer_find_minor(minor);

	*err = 0;
	if (!t) {
		*err = minor >= BSNAP_MAX_MINORS ? -EINVAL : -ENOENT;
		return NULL;
	}
	if (t->mode != TRACER_SNAPSHOT || !t->pipe) {
		pr_err("bsnap%u: not a snapshot, its CoW file holds no data\n",
		       t->minor);
		*err = -EINVAL;
	} else if (tracer_error(t)) {
		pr_err("bsnap%u: the snapshot has failed (%d), growing its CoW file would not bring it back\n",
		       t->minor, tracer_error(t));
		*err = -EINVAL;
	}
	return *err ? NULL : t;
}

/* The tracer's CoW file is @f and can grow now; fs mutex held. */
static int expand_check(struct tracer *t, struct file *f)
{
	struct cow_file *cf = t->store->cf;

	if (t->cond != TRACER_ACTIVE || !cf->dentry) {
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

static int expand_grow(struct tracer *t, struct file *f, u64 grow)
{
	int ret;

	mutex_lock(&bsnap_fs_mutex);
	ret = expand_check(t, f);
	mutex_unlock(&bsnap_fs_mutex);
	/*
	 * The open file keeps the filesystem mounted until fput(), so it
	 * cannot go dormant in between (the control mutex keeps out
	 * transitions and destroy).
	 */
	if (!ret)
		ret = cow_store_grow(t->store, f, grow);
	if (ret == -ESTALE) {
		/* The file is no longer what bsnap mapped: stop using it. */
		tracer_set_error(t, ret);
		tracer_break_chain(t, ret);
	}
	if (ret)
		return ret;

	/* The header names the new size: a reload maps all of the file. */
	mutex_lock(&t->seal_mutex);
	if (!t->sealed)
		ret = cow_store_write_meta(t->store, t->cbt,
					   tracer_cow_flags(t, false), false);
	mutex_unlock(&t->seal_mutex);
	if (ret)
		pr_warn("bsnap%u: CoW header update after growth failed: %d\n",
			t->minor, ret);
	pr_info("bsnap%u: CoW file grown by %llu bytes to %llu; the new space takes data once named free in the snapshot\n",
		t->minor, grow, t->store->cf->size);
	tracer_event(t, BSNAP_EVENT_EXPANDED);
	return 0;
}

int tracer_expand_cow(struct bsnap_expand_cow *arg)
{
	struct tracer *t;
	struct file *f;
	int ret;

	if (arg->reserved || arg->grow_bytes > U64_MAX - BSNAP_COW_BLOCK_SIZE)
		return -EINVAL;
	t = expand_find(arg->minor, &ret);
	if (!t)
		return ret;
	f = fget(arg->fd);
	if (!f)
		return -EBADF;
	if (arg->grow_bytes)
		ret = expand_grow(t, f,
				  round_up(arg->grow_bytes,
					   BSNAP_COW_BLOCK_SIZE));
	else if (!t->store->cf->dentry ||
		 d_inode(t->store->cf->dentry) != file_inode(f))
		ret = -EINVAL; /* the same check, without a mounted rw fs */
	fput(f);
	if (ret)
		return ret;
	arg->grown_off = t->store->grown_off;
	arg->file_size = t->store->cf->size; /* we hold the control mutex */
	return 0;
}

int tracer_cow_usable(struct bsnap_cow_usable *arg)
{
	struct bsnap_cow_range *ranges;
	unsigned int noio;
	struct tracer *t;
	int ret;

	if (arg->reserved || arg->nr_ranges > BSNAP_MAX_COW_RANGES)
		return -EINVAL;
	t = expand_find(arg->minor, &ret);
	if (!t)
		return ret;
	ranges = kvmalloc_array(arg->nr_ranges, sizeof(*ranges), GFP_KERNEL);
	if (!ranges)
		return -ENOMEM;
	if (copy_from_user(ranges, u64_to_user_ptr(arg->ranges),
			   (size_t)arg->nr_ranges * sizeof(*ranges))) {
		kvfree(ranges);
		return -EFAULT;
	}
	/*
	 * The table, then the header that names it: under the seal mutex.
	 * No allocation in there may recurse into I/O: a write held while
	 * the device is sealed waits for this mutex.
	 */
	noio = memalloc_noio_save();
	mutex_lock(&t->seal_mutex);
	ret = cow_store_add_usable(t->store, ranges, arg->nr_ranges,
				   &arg->added_bytes);
	if (!ret)
		ret = cow_store_write_meta(t->store, t->cbt,
					   tracer_cow_flags(t, t->sealed), false);
	mutex_unlock(&t->seal_mutex);
	memalloc_noio_restore(noio);
	kvfree(ranges);
	if (ret) {
		/* A reload could not trust the table: fail loudly now. */
		pr_err("bsnap%u: cannot record the CoW file's usable space (%d)\n",
		       t->minor, ret);
		if (ret != -EINVAL && ret != -EOPNOTSUPP && ret != -ENOMEM &&
		    ret != -E2BIG)
			tracer_set_error(t, ret);
		return ret;
	}
	arg->free_bytes = cow_store_free_bytes(t->store);
	pr_info("bsnap%u: %llu bytes of the CoW file's added space are usable now, %llu bytes free for CoW data\n",
		t->minor, arg->added_bytes, arg->free_bytes);
	return 0;
}
