// SPDX-License-Identifier: GPL-2.0
/*
 * The tracer state machine: the control operations that create, change and
 * destroy tracers. All run with bsnap_ctl_mutex held.
 *
 * States (uapi/bsnap.h bits): snapshot or incremental; active (mounted rw),
 * dormant, unverified; plus failed with a stored errno. This version
 * implements setup -> active snapshot and destroy; transitions, dormancy
 * and reload build on the same operations.
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
#include "tracer.h"

static void tracer_free(struct tracer *t)
{
	if (t->cbt)
		cbt_map_destroy(t->cbt);
	if (t->bdev_ref.bdev)
		bsnap_bdev_close(&t->bdev_ref);
	kfree(t->bdev_path);
	kfree(t->cow_path);
	kfree(t);
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
	if (t->pipe)
		cow_pipeline_destroy(t->pipe);
	if (t->store)
		cow_store_destroy(t->store, remove_cow);
	bsnap_hook_put();
	tracer_free(t);
	module_put(THIS_MODULE);
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

/* Freeze the filesystem, start tracing, thaw: the snapshot's instant. */
static int tracer_start_frozen(struct tracer *t)
{
	struct block_device *bdev = t->bdev_ref.bdev;
	int ret;

	ret = bsnap_bdev_freeze(bdev);
	if (ret) {
		pr_err("cannot freeze %s: %d\n", t->bdev_path, ret);
		return ret;
	}
	tracer_publish(t);
	ret = bsnap_bdev_thaw(bdev);
	if (ret)
		pr_warn("thaw of %s returned %d\n", t->bdev_path, ret);
	return 0;
}

int tracer_setup_snapshot(const struct bsnap_setup *arg, const char *bdev_path,
			  const char *cow_path)
{
	struct tracer *t;
	dev_t dev;
	int ret;

	ret = check_new_minor(arg->minor);
	if (ret)
		return ret;
	if (arg->flags & ~BSNAP_FLAG_IGNORE_ERRORS)
		return -EINVAL;
	if (cow_path[0] != '/')
		return -EINVAL;
	ret = lookup_bdev(bdev_path, &dev);
	if (ret)
		return ret;
	if (tracer_find_dev(dev))
		return -EBUSY;

	t = tracer_alloc(arg, bdev_path, cow_path);
	if (IS_ERR(t))
		return PTR_ERR(t);
	t->dev = dev;
	t->seqid = 1;
	generate_random_uuid(t->uuid);

	ret = bsnap_bdev_open(dev, &t->bdev_ref);
	if (ret)
		goto err_free;
	t->nr_sectors = bdev_nr_sectors(t->bdev_ref.bdev);
	ret = bsnap_bdev_mount_check(t->bdev_ref.bdev);
	if (ret)
		goto err_free;

	t->cbt = cbt_map_create(t->nr_sectors, ilog2(BSNAP_COW_BLOCK_SIZE));
	if (IS_ERR(t->cbt)) {
		ret = PTR_ERR(t->cbt);
		t->cbt = NULL;
		goto err_free;
	}
	t->store = cow_store_create(cow_path, arg->fallocate_size,
				    t->bdev_ref.bdev, t->nr_sectors,
				    t->cache_size, t->uuid, t->seqid);
	if (IS_ERR(t->store)) {
		ret = PTR_ERR(t->store);
		t->store = NULL;
		goto err_free;
	}
	ret = cow_store_write_meta(t->store, t->cbt, 0, false);
	if (ret)
		goto err_store;
	t->pipe = cow_pipeline_create(t);
	if (IS_ERR(t->pipe)) {
		ret = PTR_ERR(t->pipe);
		t->pipe = NULL;
		goto err_store;
	}
	ret = bsnap_hook_get();
	if (ret)
		goto err_pipe;

	ret = tracer_start_frozen(t);
	if (ret)
		goto err_hook;
	t->state = BSNAP_STATE_SNAPSHOT | BSNAP_STATE_ACTIVE;
	__module_get(THIS_MODULE);

	t->image = snap_dev_create(t);
	if (IS_ERR(t->image)) {
		ret = PTR_ERR(t->image);
		t->image = NULL;
		tracer_teardown(t, true);
		return ret;
	}
	pr_info("bsnap%u: snapshot of %s, CoW file %s\n", t->minor,
		bdev_path, cow_path);
	return 0;

err_hook:
	bsnap_hook_put();
err_pipe:
	cow_pipeline_destroy(t->pipe);
err_store:
	cow_store_destroy(t->store, true);
err_free:
	tracer_free(t);
	return ret;
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
	tracer_teardown(t, true);
	return 0;
}

u32 tracer_state_bits(const struct tracer *t)
{
	return t->state | (tracer_error(t) ? BSNAP_STATE_FAILED : 0);
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
	info->changed_blocks = cbt_map_count(t->cbt);
	info->block_size = BSNAP_COW_BLOCK_SIZE;
	if (t->store) {
		info->falloc_size = t->store->cf->size;
		info->cow_used_bytes = cow_store_used_bytes(t->store);
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
