// SPDX-License-Identifier: GPL-2.0
/*
 * Reload after a reboot or a module reload: reload-snapshot and
 * reload-incremental register an unmounted device in state unverified.
 *
 * The CoW file is found before anything can write to the device: the
 * filesystem is mounted privately, read-only and without log recovery
 * (nothing is written), just long enough to look the file up by its path
 * inside the filesystem and map its extents. Its header must be intact and
 * CLEAN, and the device's first 4 KiB must be as they were when the file
 * was sealed (else the filesystem was mounted or repaired while bsnap was
 * not tracking it). Tracing then starts at once, sealed (tracer_seal.c):
 * the first write, typically journal replay at the first mount, marks the
 * header in use, and in snapshot mode is copied like any other. The first
 * read-write mount finds the file again and checks it still has the same
 * extents (tracer_mount.c) before the device becomes active.
 *
 * A file that cannot be used still leaves the device registered, unverified
 * and failed with the errno (info shows it): a backup tool must not get an
 * incremental from it, and must take a full backup.
 */
#include "log.h"

#include <linux/blkdev.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/magic.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "bio_hook.h"
#include "cbt_map.h"
#include "compat.h"
#include "cow_file.h"
#include "cow_pipeline.h"
#include "cow_store.h"
#include "direct_io.h"
#include "tracer.h"

#define EXT4_SB_OFFSET 1024
#define EXT4_SB_MAGIC_OFFSET 56

/* The filesystem type and its "mount without writing anything" option. */
static int reload_fs_type(struct block_device *bdev, const char **type,
			  const char **opt)
{
	u8 *buf = kmalloc(BSNAP_COW_PROBE_SIZE, GFP_KERNEL);
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = bsnap_io_sync(bdev, REQ_OP_READ, 0, buf, BSNAP_COW_PROBE_SIZE);
	if (ret)
		goto out;
	ret = 0;
	if (be32_to_cpup((__be32 *)buf) == XFS_SUPER_MAGIC) {
		*type = "xfs";
		*opt = "norecovery";
	} else if (le16_to_cpup((__le16 *)(buf + EXT4_SB_OFFSET +
					  EXT4_SB_MAGIC_OFFSET)) ==
		   EXT4_SUPER_MAGIC) {
		*type = "ext4";
		*opt = "noload";
	} else {
		ret = -EOPNOTSUPP;
	}
out:
	kfree(buf);
	return ret;
}

static struct vfsmount *reload_private_mount(const char *bdev_path,
					     struct block_device *bdev)
{
	struct file_system_type *type;
	const char *name, *opt;
	struct fs_context *fc;
	struct vfsmount *mnt;
	int ret;

	ret = reload_fs_type(bdev, &name, &opt);
	if (ret)
		return ERR_PTR(ret);
	type = get_fs_type(name);
	if (!type)
		return ERR_PTR(-ENODEV);
	fc = fs_context_for_mount(type, SB_RDONLY);
	/* put_filesystem(), which is not exported everywhere. */
	module_put(type->owner);
	if (IS_ERR(fc))
		return ERR_CAST(fc);
	ret = vfs_parse_fs_string(fc, "source", bdev_path, strlen(bdev_path));
	if (!ret)
		ret = vfs_parse_fs_string(fc, opt, NULL, 0);
	mnt = ret ? ERR_PTR(ret) : fc_mount(fc);
	put_fs_context(fc);
	return mnt;
}

/* Find, check and open the CoW file, for t->seqid, t->uuid and *@cs. */
static int reload_open_store(struct tracer *t, bool snapshot,
			     struct cow_store **cs)
{
	struct block_device *bdev = t->bdev_ref.bdev;
	struct vfsmount *mnt;
	struct cow_file *cf;
	u32 probe;
	int ret;

	/* Before the private mount, in case the filesystem writes anyway. */
	ret = cow_store_probe_crc(bdev, &probe);
	if (ret)
		return ret;
	mnt = reload_private_mount(t->bdev_path, bdev);
	if (IS_ERR(mnt))
		return PTR_ERR(mnt);
	cf = cow_file_map_unpinned(mnt->mnt_root, t->fs_path, bdev);
	mntput(mnt);
	if (IS_ERR(cf))
		return PTR_ERR(cf);
	*cs = cow_store_open(cf, t->nr_sectors, snapshot, t->cache_size, probe,
			     t->cbt, &t->seqid, t->uuid);
	if (IS_ERR(*cs)) {
		cow_file_release(cf, false);
		return PTR_ERR(*cs);
	}
	return 0;
}

static const char *reload_problem(int err)
{
	switch (err) {
	case -ENOENT:
		return "no such CoW file";
	case -EBADMSG:
		return "the CoW file is damaged or not a bsnap CoW file";
	case -EUCLEAN:
		return "the CoW file was not closed cleanly (crash or power loss)";
	case -ESTALE:
		return "the CoW file is superseded, or the device was changed while bsnap was not tracking it";
	default:
		return "cannot use the CoW file";
	}
}

/*
 * @t is published and sealed: writes are recorded. Find the file and
 * attach it; a problem with it is stored in @t, not returned.
 */
static void reload_start(struct tracer *t, bool snapshot)
{
	struct cow_pipeline *pipe;
	struct cow_store *cs;
	int ret;

	ret = reload_open_store(t, snapshot, &cs);
	if (ret) {
		pr_err("bsnap%u: %s (%d): the device is registered as unverified and failed; take a full backup\n",
		       t->minor, reload_problem(ret), ret);
		tracer_break_chain(t, ret);
		return;
	}
	if (cs->recovered)
		pr_info("bsnap%u: the CoW file was in use at a crash or power loss: the chain goes on, and the next incremental holds every block of the regions written then\n",
			t->minor);
	/* Before the header is written "in use" again (attach, unseal). */
	ret = tracer_start_intent(t, cs, t->cbt, !snapshot);
	if (ret) {
		pr_err("bsnap%u: cannot keep the CoW file's write intent (%d)\n",
		       t->minor, ret);
		tracer_break_chain(t, ret);
	}
	if (!tracer_attach_sealed(t, cs) && snapshot) {
		/* Recorded, so the chain holds; but nothing was copied. */
		pr_err("bsnap%u: the device was written before its CoW file was found: the snapshot is lost\n",
		       t->minor);
		tracer_set_error(t, -ESTALE);
		return;
	}
	if (!snapshot)
		return;
	pipe = tracer_pipeline_create(t, t->cbt, t->store);
	if (IS_ERR(pipe)) {
		tracer_set_error(t, PTR_ERR(pipe));
		return;
	}
	/* Published after the store, as snap_member_switch() does. */
	smp_store_release(&t->pipe, pipe);
}

int tracer_reload(const struct bsnap_setup *arg, const char *bdev_path,
		  const char *cow_path, bool snapshot)
{
	struct tracer *t;
	int ret;

	if (cow_path[0] == '/')
		return -EINVAL;
	t = tracer_new(arg, bdev_path, cow_path);
	if (IS_ERR(t))
		return PTR_ERR(t);
	tracer_init_state(t, snapshot ? TRACER_SNAPSHOT : TRACER_INCREMENTAL,
			  TRACER_UNVERIFIED);
	t->fs_path = kstrdup(cow_path, GFP_KERNEL);
	ret = t->fs_path ? 0 : -ENOMEM;
	if (ret)
		goto err;
	/* Mounted (read-write or not): reload comes before the mount. */
	ret = bsnap_bdev_mount_check(t->bdev_ref.bdev);
	if (ret != -ENODEV) {
		ret = ret == -EOPNOTSUPP ? ret : -EBUSY;
		goto err;
	}
	t->cbt = cbt_map_create(t->nr_sectors, ilog2(BSNAP_COW_BLOCK_SIZE));
	if (IS_ERR(t->cbt)) {
		ret = PTR_ERR(t->cbt);
		t->cbt = NULL;
		goto err;
	}
	ret = bsnap_hook_get();
	if (ret)
		goto err;
	t->sealed = true;	/* until the clean header is read */
	tracer_publish(t);
	reload_start(t, snapshot);
	if (snapshot && t->pipe && tracer_add_image(t))
		pr_err("bsnap%u: cannot create the snapshot image\n", t->minor);
	pr_info("bsnap%u: reloaded %s, CoW file %s: unverified until mounted\n",
		t->minor, bdev_path, cow_path);
	tracer_event(t, BSNAP_EVENT_UNVERIFIED);
	return 0;

err:
	tracer_free(t);
	return ret;
}
