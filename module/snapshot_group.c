// SPDX-License-Identifier: GPL-2.0
/*
 * Snapshots of several devices at one instant (see snapshot_group.h).
 */
#include "log.h"

#include <linux/blkdev.h>
#include <linux/slab.h>

#include "bio_hook.h"
#include "compat.h"
#include "cow_file.h"
#include "cow_store.h"
#include "snapshot_group.h"
#include "tracer.h"

/*
 * A transition's tracer must still hold its CoW file: an unmount since the
 * member was prepared made it dormant. The header says "not clean" from
 * here on, as it must before any write can reach the new snapshot.
 */
static int transition_still_active(struct tracer *t)
{
	int ret;

	tracer_unseal(t);
	mutex_lock(&bsnap_fs_mutex);
	ret = t->store->cf->dentry ? 0 : -ENODEV;
	mutex_unlock(&bsnap_fs_mutex);
	return ret;
}

int snap_group_start(struct snap_member *m, unsigned int n,
		     unsigned int *failed)
{
	unsigned int i, frozen;
	int ret = 0, err;

	for (i = 0; i < n; i++) {
		ret = m[i].setup ? 0 : transition_still_active(m[i].t);
		if (ret)
			goto abort;
	}
	for (frozen = 0; frozen < n; frozen++) {
		ret = bsnap_bdev_freeze(m[frozen].t->bdev_ref.bdev);
		if (ret) {
			pr_err("cannot freeze %s: %d\n",
			       m[frozen].t->bdev_path, ret);
			i = frozen;
			goto thaw;
		}
	}
	for (i = 0; i < n; i++)
		snap_member_switch(&m[i]);
	/* From here on no write of any member uses its previous state. */
	bsnap_hook_sync();
	while (frozen--) {
		err = bsnap_bdev_thaw(m[frozen].t->bdev_ref.bdev);
		if (err)
			pr_warn("thaw of %s returned %d\n",
				m[frozen].t->bdev_path, err);
	}
	*failed = n;
	for (i = 0; i < n; i++) {
		err = snap_member_finish(&m[i]);
		if (err && !ret) {
			ret = err;
			*failed = i;
		}
	}
	return ret;

thaw:
	while (frozen--)
		bsnap_bdev_thaw(m[frozen].t->bdev_ref.bdev);
abort:
	*failed = i;
	for (i = 0; i < n; i++)
		snap_member_abort(&m[i]);
	return ret;
}

/* Two members name the same minor, or overlapping devices of one disk. */
static bool members_clash(const struct snap_member *a,
			  const struct snap_member *b)
{
	const struct tracer *x = a->t, *y = b->t;

	if (x == y || x->minor == y->minor)
		return true;
	return x->disk == y->disk &&
	       x->start_sect < y->start_sect + y->nr_sectors &&
	       y->start_sect < x->start_sect + x->nr_sectors;
}

static int member_prepare(struct snap_member *m,
			  const struct bsnap_group_member *mb,
			  const char *bdev_path, const char *cow_path)
{
	struct bsnap_setup arg = {
		.minor = mb->minor,
		.flags = mb->flags,
		.cache_size = mb->cache_size,
		.fallocate_size = mb->fallocate_size,
	};

	switch (mb->op) {
	case BSNAP_GROUP_SETUP:
		if (!bdev_path)
			return -EINVAL;
		return snap_member_setup(m, &arg, bdev_path, cow_path);
	case BSNAP_GROUP_TRANSITION:
		if (mb->flags || mb->cache_size || bdev_path)
			return -EINVAL;
		return snap_member_transition(m, mb->minor, mb->fallocate_size,
					      cow_path);
	default:
		return -EINVAL;
	}
}

int snapshot_group(struct bsnap_group_member *mb, char **bdev_paths,
		   char **cow_paths, unsigned int n, unsigned int *failed)
{
	struct snap_member *m;
	unsigned int i, j;
	int ret = 0;

	lockdep_assert_held(&bsnap_ctl_mutex);
	m = kcalloc(n, sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		ret = member_prepare(&m[i], &mb[i], bdev_paths[i], cow_paths[i]);
		if (ret)
			break;
		for (j = 0; j < i && !ret; j++)
			if (members_clash(&m[j], &m[i]))
				ret = -EBUSY;
		if (ret) {
			snap_member_abort(&m[i]);
			break;
		}
	}
	if (ret) {
		*failed = i;
		while (i--)
			snap_member_abort(&m[i]);
		goto out;
	}
	ret = snap_group_start(m, n, failed);
out:
	if (ret && *failed < n)
		mb[*failed].error = ret;
	kfree(m);
	return ret;
}
