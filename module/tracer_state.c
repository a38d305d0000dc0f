// SPDX-License-Identifier: GPL-2.0
/*
 * The tracer state machine: the control operations that create, change and
 * destroy tracers. All run with bsnap_ctl_mutex held.
 *
 * States (uapi/bsnap.h bits): snapshot or incremental; active (mounted rw),
 * dormant, unverified; plus failed with a stored errno. Here: setup ->
 * active snapshot, the transitions between snapshot and incremental,
 * destroy, and what unload and shutdown do. Mount events (active <->
 * dormant) are in tracer_mount.c, reload (-> unverified) in tracer_reload.c.
 */
#include "log.h"

#include <linux/blkdev.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uuid.h>

#include "bio_hook.h"
#include "cbt_map.h"
#include "compat.h"
#include "cow_file.h"
#include "cow_index.h"
#include "cow_pipeline.h"
#include "cow_store.h"
#include "snap_dev.h"
#include "snapshot_group.h"
#include "tracer.h"

void tracer_free(struct tracer *t)
{
	cancel_work_sync(&t->broken_work);
	if (t->cbt)
		cbt_map_destroy(t->cbt);
	if (t->bdev_ref.bdev)
		bsnap_bdev_close(&t->bdev_ref);
	kfree(t->bdev_path);
	kfree(t->cow_path);
	kfree(t->fs_path);
	kfree(t);
}

/*
 * A failed snapshot's index lacks the copies it could not make, while its
 * change map still names every change: only the map may be trusted.
 */
u32 tracer_cow_flags(const struct tracer *t, bool clean)
{
	u32 flags = 0;

	if (t->mode != TRACER_SNAPSHOT || tracer_error(t))
		flags |= BSNAP_COW_INDEX_ONLY;
	if (clean)
		return flags | BSNAP_COW_CLEAN;
	/* A reload must never continue a chain that has a gap. */
	if (t->chain_broken)
		flags |= BSNAP_COW_BROKEN;
	return flags;
}

/*
 * Stop tracing @t and free it. The image goes first (its reads need the
 * pipeline and the store), then the tracer leaves the table, then held
 * writes drain, then the CoW file is closed.
 */
static void tracer_teardown(struct tracer *t, bool remove_cow)
{
	if (t->image)
		snap_dev_destroy(t->image);
	tracer_unpublish(t);
	bsnap_hook_sync();
	tracer_seal_stop(t);
	if (t->store)
		cow_store_intent_drain(t->store);
	if (t->pipe) {
		cow_pipeline_fail(t->pipe); /* release held writes, no copies */
		cow_pipeline_destroy(t->pipe);
	}
	if (t->store) {
		if (remove_cow && !t->store->cf->dentry)
			pr_info("bsnap%u: the filesystem is not mounted: CoW file %s left in place\n",
				t->minor, t->cow_path);
		cow_store_destroy(t->store, remove_cow);
	}
	bsnap_hook_put();
	tracer_put_module(t);
	tracer_free(t);
}

static int check_new_minor(unsigned int minor)
{
	if (minor >= BSNAP_MAX_MINORS)
		return -EINVAL;
	if (tracer_find_minor(minor))
		return -EBUSY;
	return 0;
}

static struct tracer *tracer_alloc(const struct bsnap_setup *arg,
				   const char *bdev_path, const char *cow_path)
{
	struct tracer *t;

	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return ERR_PTR(-ENOMEM);
	INIT_LIST_HEAD(&t->node);
	tracer_seal_init(t);
	t->minor = arg->minor;
	t->flags = arg->flags;
	t->cache_size = arg->cache_size ?: BSNAP_DEFAULT_CACHE_SIZE;
	t->bdev_path = kstrdup(bdev_path, GFP_KERNEL);
	t->cow_path = kstrdup(cow_path, GFP_KERNEL);
	if (!t->bdev_path || !t->cow_path) {
		tracer_free(t);
		return ERR_PTR(-ENOMEM);
	}
	return t;
}

static void snap_parts_free(struct snap_parts *sp)
{
	if (sp->pipe)
		cow_pipeline_destroy(sp->pipe);
	if (sp->store)
		cow_store_destroy(sp->store, true);
	if (sp->cbt)
		cbt_map_destroy(sp->cbt);
}

/* Create the CoW file and what copies into it; nothing is live yet. */
static int snap_parts_create(struct tracer *t, const char *cow_path,
			     u64 falloc_size, u64 seqid, struct snap_parts *sp)
{
	int ret;

	memset(sp, 0, sizeof(*sp));
	sp->cbt = cbt_map_create(t->nr_sectors, ilog2(BSNAP_COW_BLOCK_SIZE));
	if (IS_ERR(sp->cbt)) {
		ret = PTR_ERR(sp->cbt);
		sp->cbt = NULL;
		return ret;
	}
	sp->store = cow_store_create(cow_path, falloc_size, t->bdev_ref.bdev,
				     t->nr_sectors, t->cache_size, t->uuid,
				     seqid);
	if (IS_ERR(sp->store)) {
		ret = PTR_ERR(sp->store);
		sp->store = NULL;
		goto err;
	}
	/* Write intent before the first header that may say "in use". */
	ret = tracer_start_intent(t, sp->store, sp->cbt, false);
	if (!ret)
		ret = cow_store_write_meta(sp->store, sp->cbt, 0, false);
	if (ret)
		goto err;
	sp->pipe = tracer_pipeline_create(t, sp->cbt, sp->store);
	if (IS_ERR(sp->pipe)) {
		ret = PTR_ERR(sp->pipe);
		sp->pipe = NULL;
		goto err;
	}
	return 0;
err:
	snap_parts_free(sp);
	return ret;
}

/*
 * The snapshot's instant, with the filesystem frozen: make @m's parts live
 * for the hook. The pipeline is published before the change map, the order
 * tracer_trace_bio() relies on; once the group calls bsnap_hook_sync() no
 * write uses the previous map any more.
 */
void snap_member_switch(struct snap_member *m)
{
	struct tracer *t = m->t;

	WRITE_ONCE(t->error, 0);
	/* Under the fs mutex, as seals run: one sees all old or all new. */
	mutex_lock(&bsnap_fs_mutex);
	m->old_store = t->store;
	m->old_cbt = t->cbt;
	t->store = m->sp.store;
	tracer_set_state(t, TRACER_SNAPSHOT, t->cond, NULL);
	/* Pipeline first, then the map: see tracer_trace_bio(). */
	smp_store_release(&t->pipe, m->sp.pipe);
	/* Pairs with the acquire of t->cbt in tracer_trace_bio(). */
	smp_store_release(&t->cbt, m->sp.cbt);
	mutex_unlock(&bsnap_fs_mutex);
	memset(&m->sp, 0, sizeof(m->sp));	/* @t's now */
	if (m->setup)
		tracer_publish(t);
}

int tracer_add_image(struct tracer *t)
{
	struct snap_dev_config cfg = {
		.minor = t->minor,
		.origin = t->bdev_ref.bdev,
		.nr_sectors = t->nr_sectors,
		.cbt = t->cbt,
		.store = t->store,
		.pipe = t->pipe,
		.error = &t->error,
		.ignore_errors = t->flags & BSNAP_FLAG_IGNORE_ERRORS,
	};
	struct snap_dev *sd = snap_dev_create(&cfg);

	if (IS_ERR(sd))
		return PTR_ERR(sd);
	t->image = sd;
	return 0;
}

static int check_snapshot_args(const char *cow_path, struct tracer *t)
{
	if (cow_path[0] != '/')
		return -EINVAL;
	return bsnap_bdev_mount_check(t->bdev_ref.bdev);
}

struct tracer *tracer_new(const struct bsnap_setup *arg,
			  const char *bdev_path, const char *cow_path)
{
	struct tracer *t;
	dev_t dev;
	int ret;

	ret = check_new_minor(arg->minor);
	if (ret)
		return ERR_PTR(ret);
	if (arg->flags & ~BSNAP_FLAG_IGNORE_ERRORS)
		return ERR_PTR(-EINVAL);
	ret = lookup_bdev(bdev_path, &dev);
	if (ret)
		return ERR_PTR(ret);
	if (tracer_find_dev(dev))
		return ERR_PTR(-EBUSY);

	t = tracer_alloc(arg, bdev_path, cow_path);
	if (IS_ERR(t))
		return t;
	t->dev = dev;
	ret = bsnap_bdev_open(dev, &t->bdev_ref);
	if (ret) {
		tracer_free(t);
		return ERR_PTR(ret);
	}
	t->nr_sectors = bdev_nr_sectors(t->bdev_ref.bdev);
	t->disk = t->bdev_ref.bdev->bd_disk;
	t->start_sect = get_start_sect(t->bdev_ref.bdev);
	/*
	 * A write lands in one traced device at most: the whole disk of a
	 * traced partition, or a partition of a traced disk, is refused.
	 * Zone append writes choose their sector at completion: nothing
	 * could copy before them.
	 */
	ret = bdev_is_zoned(t->bdev_ref.bdev) ? -EOPNOTSUPP :
	      !tracer_disk_range_free(t->disk, t->start_sect, t->nr_sectors) ?
	      -EBUSY : 0;
	if (ret) {
		tracer_free(t);
		return ERR_PTR(ret);
	}
	return t;
}

int snap_member_setup(struct snap_member *m, const struct bsnap_setup *arg,
		      const char *bdev_path, const char *cow_path)
{
	struct tracer *t;
	int ret;

	memset(m, 0, sizeof(*m));
	t = tracer_new(arg, bdev_path, cow_path);
	if (IS_ERR(t))
		return PTR_ERR(t);
	t->seqid = 1;
	generate_random_uuid(t->uuid);
	ret = check_snapshot_args(cow_path, t);
	if (ret)
		goto err_free;
	ret = snap_parts_create(t, cow_path, arg->fallocate_size, t->seqid,
				&m->sp);
	if (ret)
		goto err_free;
	ret = bsnap_hook_get();
	if (ret)
		goto err_parts;
	t->fs_path = cow_file_fs_path(m->sp.store->cf);
	if (IS_ERR(t->fs_path)) {
		ret = PTR_ERR(t->fs_path);
		t->fs_path = NULL;
		goto err_hook;
	}
	tracer_init_state(t, TRACER_INCREMENTAL, TRACER_ACTIVE);
	m->t = t;
	m->setup = true;
	return 0;

err_hook:
	bsnap_hook_put();
err_parts:
	snap_parts_free(&m->sp);
err_free:
	tracer_free(t);
	return ret;
}

int snap_member_transition(struct snap_member *m, unsigned int minor,
			   u64 fallocate_size, const char *cow_path)
{
	struct tracer *t;
	int ret;

	memset(m, 0, sizeof(*m));
	t = tracer_find_minor(minor);
	if (!t)
		return minor >= BSNAP_MAX_MINORS ? -EINVAL : -ENOENT;
	if (t->chain_broken)
		return tracer_error(t) ?: -EUCLEAN;
	if (t->mode == TRACER_SNAPSHOT || t->cond != TRACER_ACTIVE)
		return -EINVAL;
	ret = check_snapshot_args(cow_path, t);
	if (ret)
		return ret;
	m->cow_path = kstrdup(cow_path, GFP_KERNEL);
	if (!m->cow_path)
		return -ENOMEM;
	ret = snap_parts_create(t, cow_path, fallocate_size, t->seqid + 1,
				&m->sp);
	if (ret)
		goto err_path;
	m->fs_path = cow_file_fs_path(m->sp.store->cf);
	if (IS_ERR(m->fs_path)) {
		ret = PTR_ERR(m->fs_path);
		m->fs_path = NULL;
		goto err_parts;
	}
	m->t = t;
	return 0;

err_parts:
	snap_parts_free(&m->sp);
err_path:
	kfree(m->cow_path);
	m->cow_path = NULL;
	return ret;
}

void snap_member_abort(struct snap_member *m)
{
	snap_parts_free(&m->sp);
	if (m->setup) {
		bsnap_hook_put();
		tracer_free(m->t);
	}
	kfree(m->cow_path);
	kfree(m->fs_path);
	memset(m, 0, sizeof(*m));
}

static int finish_setup(struct snap_member *m)
{
	struct tracer *t = m->t;
	int ret;

	mutex_lock(&bsnap_fs_mutex);
	tracer_get_module(t);
	mutex_unlock(&bsnap_fs_mutex);
	/* Published: umount finds the tracer and lets go of the file. */
	cow_file_close_open(t->store->cf);

	ret = tracer_add_image(t);
	if (ret) {
		tracer_teardown(t, true);
		return ret;
	}
	pr_info("bsnap%u: snapshot of %s, CoW file %s\n", t->minor,
		t->bdev_path, t->cow_path);
	tracer_event(t, BSNAP_EVENT_SETUP);
	return 0;
}

static int finish_transition(struct snap_member *m)
{
	struct tracer *t = m->t;
	int ret;

	cow_file_close_open(t->store->cf);
	t->seqid++;
	kfree(t->cow_path);
	t->cow_path = m->cow_path;
	kfree(t->fs_path);
	t->fs_path = m->fs_path;
	m->cow_path = NULL;
	m->fs_path = NULL;

	/*
	 * The old file keeps exactly the changes between the two snapshots:
	 * no write marks old_cbt any more (the group synced the hook).
	 * Both CoW files differ between the two images without any traced
	 * write: the old one was written directly, the new one reads as zeros.
	 */
	ret = cow_store_mark_blocks(m->old_store, m->old_cbt) ?:
	      cow_store_mark_blocks(t->store, m->old_cbt);
	if (!ret)
		ret = cow_store_write_meta(m->old_store, m->old_cbt,
					   BSNAP_COW_CLEAN |
					   BSNAP_COW_INDEX_ONLY |
					   BSNAP_COW_SUPERSEDED, true);
	else if (cow_store_write_meta(m->old_store, m->old_cbt,
				      BSNAP_COW_BROKEN | BSNAP_COW_INDEX_ONLY |
				      BSNAP_COW_SUPERSEDED, false))
		pr_err("bsnap%u: cannot mark the previous CoW file broken\n",
		       t->minor);
	if (ret)
		pr_err("bsnap%u: cannot write the previous CoW file's change map (%d): take a full backup\n",
		       t->minor, ret);
	cow_store_destroy(m->old_store, false);
	cbt_map_destroy(m->old_cbt);

	if (tracer_add_image(t))
		pr_err("bsnap%u: cannot create the snapshot image\n", t->minor);
	pr_info("bsnap%u: snapshot %llu, CoW file %s\n", t->minor, t->seqid,
		t->cow_path);
	tracer_event(t, BSNAP_EVENT_TRANSITION);
	return ret;
}

int snap_member_finish(struct snap_member *m)
{
	int ret = m->setup ? finish_setup(m) : finish_transition(m);

	memset(m, 0, sizeof(*m));
	return ret;
}

int tracer_setup_snapshot(const struct bsnap_setup *arg, const char *bdev_path,
			  const char *cow_path)
{
	struct snap_member m;
	unsigned int failed;
	int ret;

	ret = snap_member_setup(&m, arg, bdev_path, cow_path);
	return ret ?: snap_group_start(&m, 1, &failed);
}

int tracer_transition_incremental(unsigned int minor)
{
	struct cow_pipeline *pipe;
	struct tracer *t;
	int ret;

	t = tracer_find_minor(minor);
	if (!t)
		return minor >= BSNAP_MAX_MINORS ? -EINVAL : -ENOENT;
	if (t->mode != TRACER_SNAPSHOT || t->chain_broken)
		return -EINVAL;

	tracer_unseal(t);
	snap_dev_destroy(t->image);
	t->image = NULL;
	/*
	 * An umount or remount read-only seals under the fs mutex, using the
	 * pipeline, the index and the header: take them down under it, so
	 * that a seal runs wholly before or after (KASAN caught a seal
	 * flushing an index freed here). If one ran before, the header is
	 * written clean again.
	 */
	mutex_lock(&bsnap_fs_mutex);
	mutex_lock(&t->seal_mutex);
	/* From here writes only mark the change map the snapshot kept. */
	pipe = t->pipe;
	WRITE_ONCE(t->pipe, NULL);
	bsnap_hook_sync();
	cow_pipeline_fail(pipe); /* release held writes without copying */
	cow_pipeline_destroy(pipe);
	cow_store_drop_data(t->store);
	/* Every write now sets its change bit first: intent bits may clear. */
	cow_store_intent_cleaning(t->store, true);
	tracer_set_state(t, TRACER_INCREMENTAL, t->cond, NULL);
	ret = cow_store_write_meta(t->store, t->cbt,
				   tracer_cow_flags(t, t->sealed), false);
	mutex_unlock(&t->seal_mutex);
	mutex_unlock(&bsnap_fs_mutex);
	if (ret)
		pr_warn("bsnap%u: CoW header update failed: %d\n", minor, ret);
	pr_info("bsnap%u: incremental\n", minor);
	tracer_event(t, BSNAP_EVENT_TRANSITION);
	return 0;
}

int tracer_transition_snapshot(const struct bsnap_transition_snapshot *arg,
			       const char *cow_path)
{
	struct snap_member m;
	unsigned int failed;
	int ret;

	ret = snap_member_transition(&m, arg->minor, arg->fallocate_size,
				     cow_path);
	return ret ?: snap_group_start(&m, 1, &failed);
}

int tracer_reconfigure(const struct bsnap_reconfigure *arg)
{
	struct tracer *t;

	t = tracer_find_minor(arg->minor);
	if (!t)
		return arg->minor >= BSNAP_MAX_MINORS ? -EINVAL : -ENOENT;
	t->cache_size = arg->cache_size ?: BSNAP_DEFAULT_CACHE_SIZE;
	if (t->store && t->store->index)
		return cow_index_set_cache(t->store->index, t->cache_size);
	return 0;
}

int tracer_destroy(unsigned int minor)
{
	struct tracer *t;

	if (minor >= BSNAP_MAX_MINORS)
		return -EINVAL;
	t = tracer_find_minor(minor);
	if (!t)
		return -ENOENT;
	pr_info("bsnap%u: destroyed\n", minor);
	tracer_event(t, BSNAP_EVENT_DESTROYED);
	/*
	 * A CoW file left behind says BROKEN: no reload trusts it (not clean
	 * alone would be a crash's, which write intent lets a reload go on).
	 */
	t->chain_broken = true;
	tracer_unseal(t);
	tracer_write_broken(t);
	tracer_teardown(t, true);
	return 0;
}

/* The moves tracer_set_state() allows, by the state they start from. */
#define TS(mode, cond) BIT((mode) * 3 + (cond))
static const u8 legal_moves[2][3] = {
	[TRACER_INCREMENTAL] = {
		[TRACER_DORMANT] = TS(TRACER_INCREMENTAL, TRACER_ACTIVE),
		[TRACER_ACTIVE] = TS(TRACER_INCREMENTAL, TRACER_DORMANT) |
				  TS(TRACER_SNAPSHOT, TRACER_ACTIVE),
		[TRACER_UNVERIFIED] = TS(TRACER_INCREMENTAL, TRACER_ACTIVE),
	},
	[TRACER_SNAPSHOT] = {
		[TRACER_DORMANT] = TS(TRACER_SNAPSHOT, TRACER_ACTIVE) |
				   TS(TRACER_INCREMENTAL, TRACER_DORMANT),
		[TRACER_ACTIVE] = TS(TRACER_SNAPSHOT, TRACER_DORMANT) |
				  TS(TRACER_INCREMENTAL, TRACER_ACTIVE),
		[TRACER_UNVERIFIED] = TS(TRACER_SNAPSHOT, TRACER_ACTIVE) |
				      TS(TRACER_INCREMENTAL, TRACER_UNVERIFIED),
	},
};

void tracer_init_state(struct tracer *t, enum tracer_mode mode,
		       enum tracer_cond cond)
{
	t->mode = mode;
	t->cond = cond;
}

void tracer_set_state(struct tracer *t, enum tracer_mode mode,
		      enum tracer_cond cond, const char *event)
{
	lockdep_assert_held(&bsnap_fs_mutex);
	if (mode != t->mode || cond != t->cond) {
		if (WARN_ON_ONCE(!(legal_moves[t->mode][t->cond] &
				   TS(mode, cond))))
			return;
		WRITE_ONCE(t->mode, mode);
		WRITE_ONCE(t->cond, cond);
	}
	if (event)
		tracer_event(t, event);
}

u32 tracer_state_bits(const struct tracer *t)
{
	u32 bits = READ_ONCE(t->mode) == TRACER_SNAPSHOT ?
		   BSNAP_STATE_SNAPSHOT : 0;

	switch (READ_ONCE(t->cond)) {
	case TRACER_ACTIVE:
		bits |= BSNAP_STATE_ACTIVE;
		break;
	case TRACER_UNVERIFIED:
		bits |= BSNAP_STATE_UNVERIFIED;
		break;
	case TRACER_DORMANT:
		break;
	}
	return bits | (tracer_error(t) ? BSNAP_STATE_FAILED : 0);
}

int tracer_fill_info(unsigned int minor, struct bsnap_info *info)
{
	struct tracer *t;

	if (minor >= BSNAP_MAX_MINORS)
		return -EINVAL;
	t = tracer_find_minor(minor);
	if (!t)
		return -ENOENT;
	info->minor = t->minor;
	info->state = tracer_state_bits(t);
	info->error = tracer_error(t);
	info->cache_size = t->cache_size;
	info->seqid = t->seqid;
	memcpy(info->uuid, t->uuid, BSNAP_UUID_SIZE);
	info->device_sectors = t->nr_sectors;
	info->changed_blocks = t->cbt ? cbt_map_count(t->cbt) : 0;
	info->block_size = BSNAP_COW_BLOCK_SIZE;
	info->flags = t->flags;
	/* No CoW store (reloaded, file not found yet): no CoW numbers. */
	info->falloc_size = 0;
	info->cow_used_bytes = 0;
	info->cow_free_bytes = 0;
	info->cow_data_bytes = 0;
	if (t->store) {
		info->falloc_size = t->store->cf->size;
		info->cow_used_bytes = cow_store_used_bytes(t->store);
		if (t->mode == TRACER_SNAPSHOT) {
			info->cow_free_bytes = cow_store_free_bytes(t->store);
			info->cow_data_bytes = cow_store_data_bytes(t->store);
		}
	}
	strscpy(info->bdev_path, t->bdev_path, sizeof(info->bdev_path));
	strscpy(info->cow_path, t->cow_path, sizeof(info->cow_path));
	return 0;
}

int tracer_free_minor(unsigned int *minor)
{
	unsigned int m;

	for (m = 0; m < BSNAP_MAX_MINORS; m++) {
		if (!tracer_find_minor(m)) {
			*minor = m;
			return 0;
		}
	}
	return -ENOSPC;
}

/* The filesystem on @t's device is mounted read-write. */
static bool tracer_mounted_rw(struct tracer *t)
{
	struct dentry *d = t->store ? t->store->cf->dentry : NULL;

	if (d)
		return !sb_rdonly(d->d_sb);
	return bsnap_bdev_mount_check(t->bdev_ref.bdev) == 0;
}

/*
 * Seal @t's CoW file if no filesystem can write behind bsnap's back. At
 * shutdown (@arg non-NULL), a filesystem still mounted read-write (reboot
 * -f, a failed unmount) is frozen for good first: that writes its metadata
 * in place as an unmount would (ext4 and xfs leave nothing to replay), so
 * the next boot's reload reads the CoW file's extents as they are.
 */
static void tracer_seal_one(struct tracer *t, void *arg)
{
	bool rw;
	int ret;

	if (!t->store)
		return;
	mutex_lock(&bsnap_fs_mutex);
	rw = tracer_mounted_rw(t);
	mutex_unlock(&bsnap_fs_mutex);
	if (rw && arg) {
		ret = bsnap_bdev_freeze(t->bdev_ref.bdev);
		if (ret)
			pr_warn("bsnap%u: cannot freeze %s at shutdown (%d)\n",
				t->minor, t->bdev_path, ret);
		rw = ret != 0;
	}
	if (rw) {
		pr_warn("bsnap%u: %s is still mounted read-write: the CoW file stays not clean\n",
			t->minor, t->bdev_path);
		return;
	}
	mutex_lock(&bsnap_fs_mutex);
	if (tracer_seal(t))
		pr_warn("bsnap%u: CoW file not sealed: take a full backup\n",
			t->minor);
	mutex_unlock(&bsnap_fs_mutex);
}

void tracer_seal_all(void)
{
	static int at_shutdown;

	mutex_lock(&bsnap_ctl_mutex);
	tracer_for_each(tracer_seal_one, &at_shutdown);
	mutex_unlock(&bsnap_ctl_mutex);
}

void tracer_unload_all(void)
{
	struct tracer *t;

	mutex_lock(&bsnap_ctl_mutex);
	tracer_for_each(tracer_seal_one, NULL);
	while ((t = tracer_first())) {
		pr_info("bsnap%u: released at unload\n", t->minor);
		tracer_teardown(t, false);
	}
	mutex_unlock(&bsnap_ctl_mutex);
}
