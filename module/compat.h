/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place where kernel-version differences are handled. Kbuild
 * includes this file first in every source file of the module (-include),
 * so the rest of the module is written against the newest kernel's API,
 * plus the bsnap_* wrappers below, and contains no version tests.
 *
 * Two kinds of entries:
 * - an interface the module uses that older kernels lack or declare
 *   differently is defined here for them under its current name and with
 *   its current semantics (blk_opf_t, bdev_nr_sectors(), lookup_bdev(),
 *   ...), like the kernel's own backports do;
 * - where no single current form exists, a bsnap_* wrapper.
 *
 * Each entry is chosen by a feature test: BSNAP_HAVE_<X>, defined by a
 * probe in Kbuild that greps the headers of the kernel being built against
 * (a distro kernel may carry an interface its version predates: RHEL,
 * SLES), or __has_include()/#ifdef. A missing interface is defined here
 * on the probe alone: a wrong answer fails the build. Where the choice is
 * between two forms that both compile, the upstream release that brought
 * the new one is accepted too (BSNAP_KV()), so that a probe that stops
 * matching a newer header cannot select the old form there. The releases
 * named below are where upstream changed ("about": from memory, not
 * checked against a tree; the probe decides).
 *
 * Tested: 5.10, 6.1, 6.1-rt, 6.12, 7.2 (scripts/build-matrix).
 */
#ifndef BSNAP_COMPAT_H
#define BSNAP_COMPAT_H

#include <linux/bio.h>
#include <linux/blk-crypto.h>
#include <linux/blkdev.h>
#include <linux/crc32.h>
#include <linux/crc32poly.h>
/* bio_integrity() moved out of bio.h in 6.9. */
#if __has_include("linux/bio-integrity.h")
#include <linux/bio-integrity.h>
#endif
#include <linux/dcache.h>
/* struct fileattr and vfs_fileattr_get(): 5.13. */
#if __has_include("linux/fileattr.h")
#include <linux/fileattr.h>
#define BSNAP_HAVE_FILEATTR
#endif
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/ftrace.h>
#include <linux/highmem.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/version.h>

#include "symbols.h"

#define BSNAP_KV(a, b) (KERNEL_VERSION(a, b, 0) <= LINUX_VERSION_CODE)

#if !BSNAP_KV(5, 10)
#error "bsnap needs Linux 5.10 or newer"
#endif

/* Request operation and flags as one type: 6.0. */
#ifndef BSNAP_HAVE_BLK_OPF_T
#define blk_opf_t unsigned int
#endif

/* BIO_MAX_PAGES was renamed in 5.12. */
#ifndef BIO_MAX_VECS
#define BIO_MAX_VECS BIO_MAX_PAGES
#endif

/* GENHD_FL_NO_PART_SCAN (a macro) was renamed in 5.17. */
#ifdef GENHD_FL_NO_PART_SCAN
#define GENHD_FL_NO_PART GENHD_FL_NO_PART_SCAN
#endif

/* bdev_nr_sectors(): about 5.16 (the probe decides). */
#ifndef BSNAP_HAVE_BDEV_NR_SECTORS
static inline sector_t bdev_nr_sectors(struct block_device *bdev)
{
	return i_size_read(bdev->bd_inode) >> SECTOR_SHIFT;
}
#endif

/* lookup_bdev() returns the dev_t in its second argument since 5.11. */
#ifndef BSNAP_HAVE_LOOKUP_BDEV_DEV
static inline int bsnap_lookup_bdev(const char *path, dev_t *dev)
{
	struct block_device *bdev = lookup_bdev(path);

	if (IS_ERR(bdev))
		return PTR_ERR(bdev);
	*dev = bdev->bd_dev;
	bdput(bdev);
	return 0;
}

#define lookup_bdev bsnap_lookup_bdev
#endif

/* blkdev_issue_flush() lost its gfp_t argument in 5.12. */
#ifndef BSNAP_HAVE_BLKDEV_ISSUE_FLUSH_BDEV
static inline int bsnap_blkdev_issue_flush(struct block_device *bdev)
{
	return blkdev_issue_flush(bdev, GFP_KERNEL);
}

#define blkdev_issue_flush bsnap_blkdev_issue_flush
#endif

/* bio_alloc_bioset() takes the device and the operation since 5.18. */
#ifndef BSNAP_HAVE_BIO_ALLOC_BDEV
static inline struct bio *bsnap_bio_alloc_bioset(struct block_device *bdev,
						 unsigned short nr_vecs,
						 blk_opf_t opf, gfp_t gfp,
						 struct bio_set *bs)
{
	struct bio *bio = bio_alloc_bioset(gfp, nr_vecs, bs);

	if (bio) {
		bio_set_dev(bio, bdev);
		bio->bi_opf = opf;
	}
	return bio;
}

#define bio_alloc_bioset bsnap_bio_alloc_bioset
#endif

/* bio_alloc_clone(): 5.18, bio_clone_fast() before. */
#ifndef BSNAP_HAVE_BIO_ALLOC_CLONE
static inline struct bio *bio_alloc_clone(struct block_device *bdev,
					  struct bio *src, gfp_t gfp,
					  struct bio_set *bs)
{
	struct bio *bio = bio_clone_fast(src, gfp, bs);

	if (bio)
		bio_set_dev(bio, bdev);
	return bio;
}
#endif

/* memzero_page(): 5.12. */
#ifndef BSNAP_HAVE_MEMZERO_PAGE
static inline void memzero_page(struct page *page, size_t offset, size_t len)
{
	zero_user(page, offset, len);
}
#endif

/* memzero_bvec(): about 5.15 (the probe decides). */
#ifndef BSNAP_HAVE_MEMZERO_BVEC
static inline void memzero_bvec(struct bio_vec *bvec)
{
	memzero_page(bvec->bv_page, bvec->bv_offset, bvec->bv_len);
}
#endif

/*
 * crc32_le_shift(): the CRC register after @len more zero bytes, in
 * O(log len) steps. Gone from newer kernels (7.2 has none; the probe
 * decides): the same computation as the kernel's had, multiplying by
 * x^(8 * len) modulo the CRC32 polynomial.
 */
#ifndef BSNAP_HAVE_CRC32_LE_SHIFT
static inline u32 bsnap_gf2_multiply(u32 x, u32 y)
{
	u32 product = x & 1 ? y : 0;
	int i;

	for (i = 0; i < 31; i++) {
		product = (product >> 1) ^ (product & 1 ? CRC32_POLY_LE : 0);
		x >>= 1;
		product ^= x & 1 ? y : 0;
	}
	return product;
}

static inline u32 crc32_le_shift(u32 crc, size_t len)
{
	u32 power = CRC32_POLY_LE;	/* x^32, modulo the polynomial */
	unsigned int i;

	for (i = 0; i < 8 * (len & 3); i++)
		crc = (crc >> 1) ^ (crc & 1 ? CRC32_POLY_LE : 0);
	for (len >>= 2; len; len >>= 1) {
		if (len & 1)
			crc = bsnap_gf2_multiply(crc, power);
		power = bsnap_gf2_multiply(power, power);
	}
	return crc;
}
#endif

/* QSTR_LEN(): about 6.14. */
#ifndef QSTR_LEN
#define QSTR_LEN(n, l) ((struct qstr)QSTR_INIT(n, l))
#endif

/*
 * lookup_noperm_positive_unlocked(): 6.16, lookup_positive_unlocked()
 * (name and length) before.
 */
#ifndef BSNAP_HAVE_LOOKUP_NOPERM
static inline struct dentry *
lookup_noperm_positive_unlocked(struct qstr *name, struct dentry *base)
{
	return lookup_positive_unlocked(name->name, base, name->len);
}
#endif

/*
 * vfs_parse_fs_string() without the value's length, since
 * vfs_parse_fs_qstr() came (between 6.12 and 7.2; the probe decides).
 */
#ifndef BSNAP_HAVE_VFS_PARSE_FS_QSTR
static inline int bsnap_vfs_parse_fs_string(struct fs_context *fc,
					    const char *key, const char *value)
{
	return vfs_parse_fs_string(fc, key, value, value ? strlen(value) : 0);
}

#define vfs_parse_fs_string bsnap_vfs_parse_fs_string
#endif

/*
 * struct fileattr became struct file_kattr in 6.17. Before 5.13 there is
 * no generic way to read a file's attributes: vfs_fileattr_get() says
 * "none" (-ENOIOCTLCMD) on ext4, which has neither realtime nor compressed
 * files, and refuses (-EOPNOTSUPP) elsewhere (xfs realtime files could not
 * be told apart).
 */
#ifdef BSNAP_HAVE_FILEATTR
#ifndef BSNAP_HAVE_FILE_KATTR
#define file_kattr fileattr
#endif
#else
struct file_kattr {
	u32 flags;
	u32 fsx_xflags;
};

static inline int vfs_fileattr_get(struct dentry *dentry,
				   struct file_kattr *fa)
{
	return dentry->d_sb->s_magic == EXT4_SUPER_MAGIC ? -ENOIOCTLCMD :
							    -EOPNOTSUPP;
}
#endif

/*
 * ftrace callbacks get struct ftrace_regs (5.11; a struct pt_regs before,
 * and the recursion protection that FTRACE_OPS_FL_RECURSION asks for was
 * the default). ftrace_instruction_pointer_set() was renamed in 6.8.
 */
#if defined(BSNAP_HAVE_FTRACE_REGS_SET_IP) || BSNAP_KV(6, 8)
#define bsnap_ftrace_set_ip(fregs, ip) \
	ftrace_regs_set_instruction_pointer(fregs, ip)
#elif defined(BSNAP_HAVE_FTRACE_IP_SET)
#define bsnap_ftrace_set_ip(fregs, ip) ftrace_instruction_pointer_set(fregs, ip)
#elif defined(BSNAP_HAVE_FTRACE_REGS) || BSNAP_KV(5, 11)
#define bsnap_ftrace_set_ip(fregs, ip) \
	instruction_pointer_set(ftrace_get_regs(fregs), ip)
#else
#define ftrace_regs pt_regs
#define FTRACE_OPS_FL_RECURSION 0
#define bsnap_ftrace_set_ip(regs, ip) instruction_pointer_set(regs, ip)
#endif

/*
 * Holding a block device open. 6.5 changed blkdev_get_by_dev() to take
 * blk_mode_t and holder ops; 6.7 added bdev_open_by_dev() and bdev_handle
 * (blkdev_get_by_dev() then went away), 6.9 replaced them with a struct
 * file from bdev_file_open_by_dev().
 */
#if defined(BSNAP_HAVE_BDEV_FILE_OPEN) || BSNAP_KV(6, 9)
struct bsnap_bdev_ref {
	struct file *file;
	struct block_device *bdev;
};

static inline int bsnap_bdev_open(dev_t dev, struct bsnap_bdev_ref *ref)
{
	ref->file = bdev_file_open_by_dev(dev, BLK_OPEN_READ, NULL, NULL);
	if (IS_ERR(ref->file))
		return PTR_ERR(ref->file);
	ref->bdev = file_bdev(ref->file);
	return 0;
}

static inline void bsnap_bdev_close(struct bsnap_bdev_ref *ref)
{
	fput(ref->file);
	ref->bdev = NULL;
}
#elif defined(BSNAP_HAVE_BDEV_HANDLE)
struct bsnap_bdev_ref {
	struct bdev_handle *handle;
	struct block_device *bdev;
};

static inline int bsnap_bdev_open(dev_t dev, struct bsnap_bdev_ref *ref)
{
	ref->handle = bdev_open_by_dev(dev, BLK_OPEN_READ, NULL, NULL);
	if (IS_ERR(ref->handle))
		return PTR_ERR(ref->handle);
	ref->bdev = ref->handle->bdev;
	return 0;
}

static inline void bsnap_bdev_close(struct bsnap_bdev_ref *ref)
{
	bdev_release(ref->handle);
	ref->bdev = NULL;
}
#else
struct bsnap_bdev_ref {
	struct block_device *bdev;
};

#if defined(BSNAP_HAVE_BLK_HOLDER_OPS) || BSNAP_KV(6, 5)
static inline int bsnap_bdev_open(dev_t dev, struct bsnap_bdev_ref *ref)
{
	ref->bdev = blkdev_get_by_dev(dev, BLK_OPEN_READ, NULL, NULL);
	return PTR_ERR_OR_ZERO(ref->bdev);
}

static inline void bsnap_bdev_close(struct bsnap_bdev_ref *ref)
{
	blkdev_put(ref->bdev, NULL);
	ref->bdev = NULL;
}
#else
static inline int bsnap_bdev_open(dev_t dev, struct bsnap_bdev_ref *ref)
{
	ref->bdev = blkdev_get_by_dev(dev, FMODE_READ, NULL);
	return PTR_ERR_OR_ZERO(ref->bdev);
}

static inline void bsnap_bdev_close(struct bsnap_bdev_ref *ref)
{
	blkdev_put(ref->bdev, FMODE_READ);
	ref->bdev = NULL;
}
#endif
#endif

/*
 * Is a filesystem mounted from @bdev, and read-write? 0 if so, -ENODEV if
 * nothing is mounted, -EROFS if read-only. get_super() is not exported (and
 * is gone since 6.6, where the superblock is the bdev's holder), so it is
 * found at run time.
 */
#if defined(BSNAP_HAVE_FS_HOLDER_OPS) || BSNAP_KV(6, 6)
static inline int bsnap_bdev_mount_check(struct block_device *bdev)
{
	struct super_block *sb;

	if (bdev->bd_holder_ops != &fs_holder_ops)
		return -ENODEV;
	sb = bdev->bd_holder;
	return sb_rdonly(sb) ? -EROFS : 0;
}
#else
static inline int bsnap_bdev_mount_check(struct block_device *bdev)
{
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
}
#endif

/*
 * The disk a bio is for, and its first sector on that whole disk.
 *
 * Since 5.12 a bio points to its block device (bi_bdev). submit_bio_noacct()
 * adds a partition's start to bi_sector once and marks the bio
 * BIO_REMAPPED, leaving bi_bdev on the partition, so a bio split or
 * resubmitted after that comes back carrying a whole-disk sector; before
 * it, the sector is relative to the partition.
 *
 * Before 5.12 a bio carries its disk and partition number, and the remap
 * sets the partition number to 0.
 */
#if defined(BSNAP_HAVE_BIO_BI_BDEV) || BSNAP_KV(5, 12)
static inline struct gendisk *bsnap_bio_disk(struct bio *bio)
{
	return bio->bi_bdev->bd_disk;
}

static inline sector_t bsnap_bio_disk_sector(struct bio *bio)
{
	sector_t sector = bio->bi_iter.bi_sector;

	if (bdev_is_partition(bio->bi_bdev) && !bio_flagged(bio, BIO_REMAPPED))
		sector += bio->bi_bdev->bd_start_sect;
	return sector;
}
#else
static inline struct gendisk *bsnap_bio_disk(struct bio *bio)
{
	return bio->bi_disk;
}

static inline sector_t bsnap_bio_disk_sector(struct bio *bio)
{
	sector_t sector = bio->bi_iter.bi_sector;
	struct disk_part_tbl *tbl;
	struct hd_struct *part;

	if (!bio->bi_partno)
		return sector;
	/* What disk_get_part() (not exported) reads. */
	rcu_read_lock();
	tbl = rcu_dereference(bio->bi_disk->part_tbl);
	part = bio->bi_partno < tbl->len ?
		rcu_dereference(tbl->part[bio->bi_partno]) : NULL;
	if (part)
		sector += part->start_sect;
	rcu_read_unlock();
	return sector;
}
#endif

/*
 * Does @bio carry an inline-encryption context or an integrity payload?
 * Neither exists in a kernel built without it.
 */
static inline bool bsnap_bio_has_payload(struct bio *bio)
{
	return bio_has_crypt_ctx(bio) || bio_integrity(bio);
}

/*
 * Freezing the filesystem on a block device. freeze_bdev()/thaw_bdev()
 * became bdev_freeze()/bdev_thaw() in 6.8; before 5.11 freeze_bdev()
 * returned the superblock, which thaw_bdev() took back.
 */
#if defined(BSNAP_HAVE_BDEV_FREEZE) || BSNAP_KV(6, 8)
static inline int bsnap_bdev_freeze(struct block_device *bdev)
{
	return bdev_freeze(bdev);
}

static inline int bsnap_bdev_thaw(struct block_device *bdev)
{
	return bdev_thaw(bdev);
}
#elif defined(BSNAP_HAVE_FREEZE_BDEV_INT) || BSNAP_KV(5, 11)
static inline int bsnap_bdev_freeze(struct block_device *bdev)
{
	return freeze_bdev(bdev);
}

static inline int bsnap_bdev_thaw(struct block_device *bdev)
{
	return thaw_bdev(bdev);
}
#else
static inline int bsnap_bdev_freeze(struct block_device *bdev)
{
	return PTR_ERR_OR_ZERO(freeze_bdev(bdev));
}

/* The frozen superblock stays until thawed: look it up again. */
static inline int bsnap_bdev_thaw(struct block_device *bdev)
{
	struct super_block *(*get_super_fn)(struct block_device *bdev);
	void (*drop_super_fn)(struct super_block *sb);
	struct super_block *sb;

	get_super_fn = (void *)bsnap_symbol("get_super");
	drop_super_fn = (void *)bsnap_symbol("drop_super");
	if (!get_super_fn || !drop_super_fn)
		return -EOPNOTSUPP;
	sb = get_super_fn(bdev);
	if (sb)
		drop_super_fn(sb);
	return thaw_bdev(bdev, sb);
}
#endif

/*
 * A bio-based disk with the given block sizes, and its release.
 * blk_alloc_disk() (5.14) takes queue limits since 6.9, which replaced the
 * blk_queue_*() setters; before it, the queue was allocated on its own.
 * put_disk() releases the queue of such a disk since 6.0, blk_cleanup_disk()
 * did before.
 */
#if defined(BSNAP_HAVE_BLK_ALLOC_DISK_LIM) || BSNAP_KV(6, 9)
static inline struct gendisk *bsnap_alloc_disk(unsigned int logical_bs,
					       unsigned int physical_bs)
{
	struct queue_limits lim = {
		.logical_block_size = logical_bs,
		.physical_block_size = physical_bs,
	};

	return blk_alloc_disk(&lim, NUMA_NO_NODE);
}
#elif defined(BSNAP_HAVE_BLK_ALLOC_DISK) || BSNAP_KV(5, 14)
static inline struct gendisk *bsnap_alloc_disk(unsigned int logical_bs,
					       unsigned int physical_bs)
{
	struct gendisk *disk = blk_alloc_disk(NUMA_NO_NODE);

	if (!disk)
		return ERR_PTR(-ENOMEM);
	blk_queue_logical_block_size(disk->queue, logical_bs);
	blk_queue_physical_block_size(disk->queue, physical_bs);
	return disk;
}
#else
static inline struct gendisk *bsnap_alloc_disk(unsigned int logical_bs,
					       unsigned int physical_bs)
{
	struct request_queue *q = blk_alloc_queue(NUMA_NO_NODE);
	struct gendisk *disk;

	if (!q)
		return ERR_PTR(-ENOMEM);
	disk = alloc_disk(1);
	if (!disk) {
		blk_cleanup_queue(q);
		return ERR_PTR(-ENOMEM);
	}
	disk->queue = q;
	blk_queue_logical_block_size(q, logical_bs);
	blk_queue_physical_block_size(q, physical_bs);
	return disk;
}
#endif

#ifdef BSNAP_HAVE_BLK_CLEANUP_DISK
#define bsnap_put_disk(disk) blk_cleanup_disk(disk)
#elif defined(BSNAP_HAVE_BLK_ALLOC_DISK) || BSNAP_KV(5, 14)
#define bsnap_put_disk(disk) put_disk(disk)
#else
static inline void bsnap_put_disk(struct gendisk *disk)
{
	struct request_queue *q = disk->queue;

	put_disk(disk);
	blk_cleanup_queue(q);
}
#endif

/* add_disk() returns an error since 5.15. */
#ifndef BSNAP_HAVE_ADD_DISK_INT
static inline int bsnap_add_disk(struct gendisk *disk)
{
	add_disk(disk);
	return 0;
}

#define add_disk bsnap_add_disk
#endif

/*
 * BSNAP_SUBMIT_BIO(name, fn) defines @name, the ->submit_bio of a
 * bio-based disk, calling void @fn(struct bio *). It returns void since
 * 5.16, a blk_qc_t before.
 */
#if defined(BSNAP_HAVE_SUBMIT_BIO_VOID) || BSNAP_KV(5, 16)
#define BSNAP_SUBMIT_BIO(name, fn)			\
	static void name(struct bio *bio)		\
	{						\
		fn(bio);				\
	}
#else
#define BSNAP_SUBMIT_BIO(name, fn)			\
	static blk_qc_t name(struct bio *bio)		\
	{						\
		fn(bio);				\
		return BLK_QC_T_NONE;			\
	}
#endif

/*
 * vfs_unlink() without a mount (the CoW file is held by its dentry), so
 * with the identity mapping. 5.12 added a struct user_namespace argument
 * to the vfs_*() namespace calls, 6.3 replaced it with struct mnt_idmap.
 */
static inline int bsnap_vfs_unlink(struct inode *dir, struct dentry *dentry)
{
#if defined(BSNAP_HAVE_MNT_IDMAP) || BSNAP_KV(6, 3)
	return vfs_unlink(&nop_mnt_idmap, dir, dentry, NULL);
#elif defined(BSNAP_HAVE_VFS_USERNS) || BSNAP_KV(5, 12)
	return vfs_unlink(&init_user_ns, dir, dentry, NULL);
#else
	return vfs_unlink(dir, dentry, NULL);
#endif
}

#undef BSNAP_KV

#endif
