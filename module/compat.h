/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place where kernel-version differences are handled. Everything
 * else in the module calls the bsnap_* wrappers below and contains no
 * version tests. Each entry names the release that changed the API.
 */
#ifndef BSNAP_COMPAT_H
#define BSNAP_COMPAT_H

#include <linux/blk-crypto.h>
#include <linux/blkdev.h>
/* bio_integrity() moved out of bio.h in 6.9. */
#if __has_include("linux/bio-integrity.h")
#include <linux/bio-integrity.h>
#endif
#include <linux/fs.h>
#include <linux/ftrace.h>
#include <linux/mount.h>
#include <linux/version.h>

#include "symbols.h"

/*
 * Holding a block device open. 6.5 changed blkdev_get_by_dev() to take
 * blk_mode_t and holder ops; 6.8 added bdev_handle, 6.9 replaced it with a
 * struct file from bdev_file_open_by_dev().
 */
struct bsnap_bdev_ref {
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	struct file *file;
#endif
	struct block_device *bdev;
};

static inline int bsnap_bdev_open(dev_t dev, struct bsnap_bdev_ref *ref)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	ref->file = bdev_file_open_by_dev(dev, BLK_OPEN_READ, NULL, NULL);
	if (IS_ERR(ref->file))
		return PTR_ERR(ref->file);
	ref->bdev = file_bdev(ref->file);
#else
	ref->bdev = blkdev_get_by_dev(dev, FMODE_READ, NULL);
	if (IS_ERR(ref->bdev))
		return PTR_ERR(ref->bdev);
#endif
	return 0;
}

static inline void bsnap_bdev_close(struct bsnap_bdev_ref *ref)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	fput(ref->file);
#else
	blkdev_put(ref->bdev, FMODE_READ);
#endif
	ref->bdev = NULL;
}

/*
 * Is a filesystem mounted from @bdev, and read-write? 0 if so, -ENODEV if
 * nothing is mounted, -EROFS if read-only. get_super() is not exported (and
 * is gone since 6.6, where the superblock is the bdev's holder), so it is
 * found at run time.
 */
static inline int bsnap_bdev_mount_check(struct block_device *bdev)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
	struct super_block *sb;

	if (bdev->bd_holder_ops != &fs_holder_ops)
		return -ENODEV;
	sb = bdev->bd_holder;
	return sb_rdonly(sb) ? -EROFS : 0;
#else
	struct super_block *(*get_super_fn)(struct block_device *bdev);
	void (*drop_super_fn)(struct super_block *sb);
	struct super_block *sb;
	int ret;

	get_super_fn = (void *)bsnap_symbol("get_super");
	drop_super_fn = (void *)bsnap_symbol("drop_super");
	if (!get_super_fn || !drop_super_fn)
		return -EOPNOTSUPP;
	sb = get_super_fn(bdev);
	if (!sb)
		return -ENODEV;
	ret = sb_rdonly(sb) ? -EROFS : 0;
	drop_super_fn(sb);
	return ret;
#endif
}

/*
 * The first sector of @bio on its whole disk. submit_bio_noacct() adds a
 * partition's start to bi_sector once and marks the bio BIO_REMAPPED (5.12),
 * leaving bi_bdev on the partition, so a bio split or resubmitted after that
 * comes back carrying a whole-disk sector; before it, the sector is relative
 * to the partition.
 */
static inline sector_t bsnap_bio_disk_sector(struct bio *bio)
{
	sector_t sector = bio->bi_iter.bi_sector;

	if (bdev_is_partition(bio->bi_bdev) && !bio_flagged(bio, BIO_REMAPPED))
		sector += bio->bi_bdev->bd_start_sect;
	return sector;
}

/*
 * Does @bio carry an inline-encryption context or an integrity payload?
 * Neither exists in a kernel built without it.
 */
static inline bool bsnap_bio_has_payload(struct bio *bio)
{
	return bio_has_crypt_ctx(bio) || bio_integrity(bio);
}

/* ftrace_instruction_pointer_set() was renamed in 6.8. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
#define bsnap_ftrace_set_ip(fregs, ip) \
	ftrace_regs_set_instruction_pointer(fregs, ip)
#else
#define bsnap_ftrace_set_ip(fregs, ip) ftrace_instruction_pointer_set(fregs, ip)
#endif

/* freeze_bdev()/thaw_bdev() became bdev_freeze()/bdev_thaw() in 6.8. */
static inline int bsnap_bdev_freeze(struct block_device *bdev)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
	return bdev_freeze(bdev);
#else
	return freeze_bdev(bdev);
#endif
}

static inline int bsnap_bdev_thaw(struct block_device *bdev)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
	return bdev_thaw(bdev);
#else
	return thaw_bdev(bdev);
#endif
}

/*
 * A bio-based disk with the given block sizes. blk_alloc_disk() takes
 * queue limits since 6.9, which replaced the blk_queue_*() setters.
 */
static inline struct gendisk *bsnap_alloc_disk(unsigned int logical_bs,
					       unsigned int physical_bs)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	struct queue_limits lim = {
		.logical_block_size = logical_bs,
		.physical_block_size = physical_bs,
	};

	return blk_alloc_disk(&lim, NUMA_NO_NODE);
#else
	struct gendisk *disk = blk_alloc_disk(NUMA_NO_NODE);

	if (!disk)
		return ERR_PTR(-ENOMEM);
	blk_queue_logical_block_size(disk->queue, logical_bs);
	blk_queue_physical_block_size(disk->queue, physical_bs);
	return disk;
#endif
}

/*
 * vfs_unlink() without a mount (the CoW file is held by its dentry), so
 * with the identity mapping. 6.3 replaced the struct user_namespace
 * argument of the vfs_*() namespace calls with struct mnt_idmap.
 */
static inline int bsnap_vfs_unlink(struct inode *dir, struct dentry *dentry)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	return vfs_unlink(&nop_mnt_idmap, dir, dentry, NULL);
#else
	return vfs_unlink(&init_user_ns, dir, dentry, NULL);
#endif
}

#endif
