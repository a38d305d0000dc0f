// SPDX-License-Identifier: GPL-2.0
/*
 * The CoW file: creation, pinning, release and direct I/O through its extent
 * map (see cow_file.h; the map itself is built in cow_extent_map.c).
 */
#include "log.h"

#include <linux/blkdev.h>
#include <linux/dcache.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "compat.h"
#include "cow_extent_map.h"
#include "cow_file.h"
#include "direct_io.h"

/* Zeros of the metadata region are written through the fs this many at once. */
#define COW_ZERO_CHUNK (1024 * 1024)

/*
 * Filesystems on which writing to a file's extents with bios is known to be
 * safe once the file is pinned: ext2/3/4 (one magic) and xfs. Others are
 * refused rather than guessed at: btrfs relocates and copies-on-write data
 * (and spans devices), f2fs and nilfs2 move data during garbage collection,
 * none of which S_SWAPFILE stops.
 */
static bool cow_fs_supported(const struct super_block *sb)
{
	return sb->s_magic == EXT4_SUPER_MAGIC || sb->s_magic == XFS_SUPER_MAGIC;
}

/*
 * Properties of the new file that make its extents unfit for direct I/O.
 * An xfs realtime file (inherited from the directory) lives on the realtime
 * device, not on s_bdev; an encrypted file would read back garbage through
 * the filesystem.
 */
static int cow_check_inode(struct file *f)
{
	struct inode *inode = file_inode(f);
	struct file_kattr fa = { };
	int ret;

	if (IS_ENCRYPTED(inode))
		return -EOPNOTSUPP;
	ret = vfs_fileattr_get(f->f_path.dentry, &fa);
	if (ret)
		return ret == -ENOIOCTLCMD ? 0 : ret;
	if (fa.fsx_xflags & FS_XFLAG_REALTIME)
		return -EOPNOTSUPP;
	if (fa.flags & (FS_COMPR_FL | FS_ENCRYPT_FL))
		return -EOPNOTSUPP;
	return 0;
}

/* Write zeros to [0, @len) through the filesystem. */
static int cow_write_zeros(struct file *f, u64 len)
{
	size_t chunk = min_t(u64, len, COW_ZERO_CHUNK);
	loff_t pos = 0;
	void *zeros;
	int ret = 0;

	if (!len)
		return 0;
	zeros = kvzalloc(chunk, GFP_KERNEL);
	if (!zeros)
		return -ENOMEM;
	while (pos < len) {
		ssize_t n = kernel_write(f, zeros, min_t(u64, chunk, len - pos),
					 &pos);

		if (n < 0) {
			ret = n;
			break;
		}
		if (!n || fatal_signal_pending(current)) {
			ret = n ? -EINTR : -EIO;
			break;
		}
	}
	kvfree(zeros);
	return ret;
}

/*
 * With ext4 data=journal (mount option or chattr +j) the zeros are only in
 * the journal after fsync; a later checkpoint would write them over what
 * bsnap has meanwhile written directly. ext4's ->bmap flushes the journal of
 * such a file (EXT4_STATE_JDATA), so call it once; its answer is not used.
 */
static void cow_checkpoint_data(struct file *f)
{
	struct inode *inode = file_inode(f);
	sector_t block = 0;

	if (inode->i_sb->s_magic == EXT4_SUPER_MAGIC)
		bmap(inode, &block);
}

/*
 * Pinning, checked against 6.1 (both flags are in memory only, never stored):
 *
 * S_SWAPFILE makes the filesystem leave the extents alone: vfs_unlink,
 * vfs_rename and may_delete() give EPERM; truncate (inode_newsize_ok),
 * fallocate (including punch hole), write (generic_write_checks), shared
 * writable mmap, reflink/dedupe (remap_range) and copy_file_range give
 * ETXTBSY; ext4 EXT4_IOC_MOVE_EXT (e4defrag) and xfs swapext (xfs_fsr)
 * refuse to move its extents; swapon gives EBUSY. Code that recomputes
 * i_flags from the on-disk flags (chattr: ext4_set_inode_flags(),
 * xfs_diflags_to_iflags()) does not touch it.
 *
 * S_IMMUTABLE adds EPERM at open for write (so "echo >>" fails at once),
 * on link, setattr (chmod, chown, utimes) and xattr changes. A chattr on the
 * file may clear it again; S_SWAPFILE is what the extents rely on.
 *
 * Either flag already set means an active swapfile, a file in use by another
 * bsnap device, or an immutable file: -EBUSY.
 */
static int cow_pin(struct cow_file *cf)
{
	struct inode *inode = d_inode(cf->dentry);
	int ret = 0;

	inode_lock(inode);
	if (IS_SWAPFILE(inode) || IS_IMMUTABLE(inode))
		ret = -EBUSY;
	else
		inode->i_flags |= S_SWAPFILE | S_IMMUTABLE;
	inode_unlock(inode);
	cf->pinned = !ret;
	return ret;
}

/* Caller holds inode_lock. Keeps S_IMMUTABLE if the disk says immutable. */
static void cow_unpin_locked(struct cow_file *cf)
{
	struct inode *inode = d_inode(cf->dentry);
	unsigned int clear = S_SWAPFILE | S_IMMUTABLE;
	struct file_kattr fa = { };

	if (!vfs_fileattr_get(cf->dentry, &fa) &&
	    (fa.flags & FS_IMMUTABLE_FL))
		clear = S_SWAPFILE;
	inode->i_flags &= ~clear;
	cf->pinned = false;
}

/*
 * Unpin and unlink under the parent's lock, taken before the file is
 * unpinned so that nobody can rename or replace it in between. No mount is
 * at hand (the file is held by its dentry), so freeze protection is taken
 * on the superblock directly, as mnt_want_write() would.
 */
static int cow_unpin_unlink(struct cow_file *cf)
{
	struct dentry *dentry = cf->dentry;
	struct inode *inode = d_inode(dentry);
	struct super_block *sb = dentry->d_sb;
	struct dentry *parent;
	struct inode *dir;
	int ret;

	if (sb_rdonly(sb))
		return -EROFS;
	sb_start_write(sb);
	parent = dget_parent(dentry);
	dir = d_inode(parent);
	inode_lock_nested(dir, I_MUTEX_PARENT);
	inode_lock(inode);
	if (cf->pinned)
		cow_unpin_locked(cf);
	inode_unlock(inode);
	if (dentry->d_parent == parent && !d_unhashed(dentry))
		ret = bsnap_vfs_unlink(dir, dentry);
	else
		ret = -ENOENT;
	inode_unlock(dir);
	dput(parent);
	sb_end_write(sb);
	return ret;
}

/*
 * Drop the page cache of the file: pages read through the filesystem before
 * (or while) bsnap wrote directly are stale. Nothing can dirty pages while
 * the file is pinned; the writeback is only there to make sure a dirty page
 * can never be written over direct data. invalidate_inode_pages2() also
 * unmaps pages somebody has mmapped, unlike invalidate_mapping_pages().
 */
static void cow_drop_cache(struct cow_file *cf)
{
	struct address_space *mapping = d_inode(cf->dentry)->i_mapping;
	int ret;

	ret = filemap_write_and_wait(mapping);
	if (!ret)
		ret = invalidate_inode_pages2(mapping);
	if (ret)
		pr_warn("CoW file: dropping its page cache failed (%d), readers through the filesystem may see old data\n",
			ret);
}

/*
 * Pin the file, map its extents and drop its page cache. Mapping comes after
 * pinning, so nothing can move between the two.
 */
static int cow_activate(struct cow_file *cf)
{
	struct cow_map *map;
	int ret;

	ret = cow_pin(cf);
	if (ret) {
		pr_err("CoW file is in use (swapfile, immutable or another bsnap device)\n");
		return ret;
	}
	map = cow_map_build(d_inode(cf->dentry), cf->bdev, cf->size);
	if (IS_ERR(map))
		return PTR_ERR(map);
	rcu_assign_pointer(cf->map, map);
	cow_drop_cache(cf);
	return 0;
}

/* Checks and allocation of a file just created; see cow_file_create(). */
static int cow_prepare(struct cow_file *cf)
{
	struct file *f = cf->filp;
	struct inode *inode = file_inode(f);
	struct super_block *sb = inode->i_sb;
	int ret;

	if (!S_ISREG(inode->i_mode))
		return -EINVAL;
	if (sb->s_bdev != cf->bdev) {
		pr_err("CoW file is on a %s filesystem not on the traced device\n",
		       sb->s_type->name);
		return -EXDEV;
	}
	if (sb_rdonly(sb) || IS_RDONLY(inode))
		return -EROFS;
	if (!cow_fs_supported(sb)) {
		pr_err("CoW file: %s is not supported (ext2/3/4 and xfs are)\n",
		       sb->s_type->name);
		return -EOPNOTSUPP;
	}
	ret = cow_check_inode(f);
	if (ret) {
		pr_err("CoW file: realtime, encrypted or compressed files are not supported\n");
		return ret;
	}

	/* Mode 0: allocated but unwritten; never zero the whole file. */
	ret = vfs_fallocate(f, 0, 0, cf->size);
	if (ret)
		return ret;
	ret = cow_write_zeros(f, cf->meta_size);
	if (ret)
		return ret;
	ret = vfs_fsync(f, 0);
	if (ret)
		return ret;
	cow_checkpoint_data(f);
	return cow_activate(cf);
}

struct cow_file *cow_file_create(const char *path, u64 size, u64 meta_size,
				 struct block_device *bdev)
{
	struct cow_file *cf;
	struct file *f;
	int ret;

	if (!path || path[0] != '/' || !size || meta_size > size ||
	    !IS_ALIGNED(size, SECTOR_SIZE))
		return ERR_PTR(-EINVAL);
	if (!current->mm)
		return ERR_PTR(-EINVAL);

	cf = kzalloc(sizeof(*cf), GFP_KERNEL);
	if (!cf)
		return ERR_PTR(-ENOMEM);
	f = filp_open(path, O_RDWR | O_CREAT | O_EXCL | O_LARGEFILE | O_NOATIME,
		      0600);
	if (IS_ERR(f)) {
		kfree(cf);
		return ERR_CAST(f);
	}
	cf->filp = f;
	cf->dentry = dget(f->f_path.dentry);
	cf->bdev = bdev;
	cf->size = size;
	cf->meta_size = meta_size;

	ret = cow_prepare(cf);
	if (ret) {
		cow_file_release(cf, true);
		return ERR_PTR(ret);
	}
	return cf;
}

void cow_file_close_open(struct cow_file *cf)
{
	/* The last close may be deferred to task work or delayed_fput. */
	if (cf->filp)
		fput(cf->filp);
	cf->filp = NULL;
}

/* Unpin, optionally unlink, and drop the dentry; the map stays. */
static void cow_let_go(struct cow_file *cf, bool remove)
{
	struct inode *inode;
	int ret;

	if (!cf->dentry)
		return;
	inode = d_inode(cf->dentry);
	cow_drop_cache(cf);
	if (remove) {
		ret = cow_unpin_unlink(cf);
		if (ret)
			pr_warn("CoW file: unlink failed (%d)\n", ret);
	}
	if (cf->pinned) {
		inode_lock(inode);
		cow_unpin_locked(cf);
		inode_unlock(inode);
	}
	dput(cf->dentry);
	cf->dentry = NULL;
}

void cow_file_release(struct cow_file *cf, bool remove)
{
	if (IS_ERR_OR_NULL(cf))
		return;
	cow_let_go(cf, remove);
	cow_file_close_open(cf);
	/* Nobody does I/O to the file any more: no reader is left. */
	cow_map_free(rcu_dereference_protected(cf->map, true));
	kfree(cf);
}

void cow_file_detach(struct cow_file *cf)
{
	cow_let_go(cf, false);
}

bool cow_file_attached_to(const struct cow_file *cf,
			  const struct super_block *sb)
{
	return cf->dentry && cf->dentry->d_sb == sb;
}

/*
 * Walk @relpath from @root one component at a time. The path stays inside
 * one filesystem: mounts are not crossed, "." and ".." are refused.
 */
static struct dentry *cow_lookup(struct dentry *root, const char *relpath)
{
	struct dentry *d = dget(root);
	const char *p = relpath;

	if (*p == '/')
		goto inval;
	while (*p) {
		const char *end = strchrnul(p, '/');
		struct dentry *next;

		if (end == p) {		/* "//" */
			p++;
			continue;
		}
		if (!d_can_lookup(d)) {
			dput(d);
			return ERR_PTR(-ENOTDIR);
		}
		next = lookup_noperm_positive_unlocked(&QSTR_LEN(p, end - p), d);
		dput(d);
		if (IS_ERR(next))
			return next == ERR_PTR(-EACCES) ? ERR_PTR(-EINVAL) :
							  next;
		d = next;
		p = *end ? end + 1 : end;
	}
	if (!d_is_reg(d)) {
		dput(d);
		return ERR_PTR(-EINVAL);
	}
	return d;
inval:
	dput(d);
	return ERR_PTR(-EINVAL);
}

int cow_file_attach(struct cow_file *cf, struct dentry *root,
		    const char *relpath)
{
	struct cow_map *now;
	struct dentry *d;
	int ret;

	if (cf->dentry)
		return 0;
	d = cow_lookup(root, relpath);
	if (IS_ERR(d))
		return PTR_ERR(d);
	if (i_size_read(d_inode(d)) != cf->size) {
		dput(d);
		return -ESTALE;
	}
	cf->dentry = d;
	ret = cow_pin(cf);
	if (ret)
		goto err;
	now = cow_map_build(d_inode(d), cf->bdev, cf->size);
	if (IS_ERR(now)) {
		ret = PTR_ERR(now);
		goto err;
	}
	if (!cow_map_equal(rcu_dereference_protected(cf->map, true), now))
		ret = -ESTALE;
	cow_map_free(now);
	if (ret)
		goto err;
	cow_drop_cache(cf);
	return 0;
err:
	cow_let_go(cf, false);
	return ret;
}

struct cow_file *cow_file_map_unpinned(struct dentry *root,
				       const char *relpath,
				       struct block_device *bdev)
{
	struct cow_file *cf;
	struct cow_map *map;
	struct dentry *d;

	if (!current->mm)
		return ERR_PTR(-EINVAL);
	d = cow_lookup(root, relpath);
	if (IS_ERR(d))
		return ERR_CAST(d);
	cf = kzalloc(sizeof(*cf), GFP_KERNEL);
	if (!cf) {
		dput(d);
		return ERR_PTR(-ENOMEM);
	}
	cf->bdev = bdev;
	cf->size = i_size_read(d_inode(d));
	map = ERR_PTR(-EINVAL);
	if (cf->size && IS_ALIGNED(cf->size, SECTOR_SIZE))
		map = cow_map_build(d_inode(d), bdev, cf->size);
	dput(d);
	if (IS_ERR(map)) {
		kfree(cf);
		return ERR_CAST(map);
	}
	RCU_INIT_POINTER(cf->map, map);
	return cf;
}

char *cow_file_fs_path(const struct cow_file *cf)
{
	char *buf = kmalloc(PATH_MAX, GFP_KERNEL);
	char *p;

	if (!buf)
		return ERR_PTR(-ENOMEM);
	p = dentry_path_raw(cf->dentry, buf, PATH_MAX);
	if (IS_ERR(p)) {
		kfree(buf);
		return p;
	}
	/* Relative to the filesystem's root, as reload takes it. */
	while (*p == '/')
		p++;
	memmove(buf, p, strlen(p) + 1);
	return buf;
}

/* -EINVAL if misaligned, -ENOSPC if [@off, @off + @len) leaves the file. */
static int cow_check_range(const struct cow_file *cf, u64 off, u64 len)
{
	/* Pairs with the release in cow_file_grow(): the map covers it. */
	u64 size = smp_load_acquire(&cf->size);

	if (!IS_ALIGNED(off | len, SECTOR_SIZE))
		return -EINVAL;
	if (off > size || len > size - off)
		return -ENOSPC;
	return 0;
}

int cow_file_io_add(struct bsnap_io *io, struct cow_file *cf, blk_opf_t opf,
		    u64 off, struct page **pages, unsigned int pg_off,
		    size_t len)
{
	sector_t sector;
	u64 contig;
	int ret;

	ret = cow_check_range(cf, off, len);
	if (ret || !len)
		return ret;
	if (!IS_ALIGNED(pg_off, SECTOR_SIZE))
		return -EINVAL;
	while (len) {
		size_t n;

		ret = cow_file_map(cf, off, &sector, &contig);
		if (ret)
			return ret;
		n = min_t(u64, len, contig);
		pages += pg_off >> PAGE_SHIFT;
		pg_off &= ~PAGE_MASK;
		ret = bsnap_io_add(io, cf->bdev, opf, sector, pages, pg_off, n);
		if (ret)
			return ret;
		off += n;
		len -= n;
		pg_off += n;
	}
	return 0;
}

int cow_file_rw_sync(struct cow_file *cf, blk_opf_t opf, u64 off, void *buf,
		     size_t len)
{
	sector_t sector;
	u64 contig;
	int ret;

	ret = cow_check_range(cf, off, len);
	while (!ret && len) {
		size_t n;

		ret = cow_file_map(cf, off, &sector, &contig);
		if (ret)
			break;
		n = min_t(u64, len, contig);
		ret = bsnap_io_sync(cf->bdev, opf, sector, buf, n);
		off += n;
		len -= n;
		buf += n;
	}
	return ret;
}

bool cow_file_owns_range(const struct cow_file *cf, sector_t sector,
			 sector_t nr)
{
	const struct cow_extent *e;
	bool owns;
	u64 gap;

	rcu_read_lock();
	e = cow_map_by_sector(rcu_dereference(cf->map), sector, &gap);
	owns = e && sector + nr <= e->sector + (e->len >> SECTOR_SHIFT);
	rcu_read_unlock();
	return owns;
}

bool cow_file_sector_off(const struct cow_file *cf, sector_t sector,
			 u64 *off, u64 *gap)
{
	const struct cow_extent *e;

	rcu_read_lock();
	e = cow_map_by_sector(rcu_dereference(cf->map), sector, gap);
	if (e)
		*off = e->file_off + ((u64)(sector - e->sector) << SECTOR_SHIFT);
	rcu_read_unlock();
	return e;
}

int cow_file_map(const struct cow_file *cf, u64 off, sector_t *sector,
		 u64 *contig)
{
	const struct cow_map *map;
	const struct cow_extent *e;
	int ret = 0;

	rcu_read_lock();
	map = rcu_dereference(cf->map);
	if (off >= map->size) {
		ret = -ENOSPC;
	} else {
		e = cow_map_by_off(map, off);
		if (e) {
			*sector = e->sector +
				  ((off - e->file_off) >> SECTOR_SHIFT);
			*contig = e->file_off + e->len - off;
		} else {
			ret = -EIO;
		}
	}
	rcu_read_unlock();
	return ret;
}

bool cow_file_extent(const struct cow_file *cf, unsigned int i,
		     struct cow_extent *e)
{
	const struct cow_map *map;
	bool found;

	rcu_read_lock();
	map = rcu_dereference(cf->map);
	found = i < map->nr;
	if (found)
		*e = map->by_off[i];
	rcu_read_unlock();
	return found;
}
