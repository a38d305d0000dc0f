// SPDX-License-Identifier: GPL-2.0
/*
 * Growing the CoW file while a snapshot writes to it (cow_file_grow() in
 * cow_file.h).
 *
 * The file stays pinned (S_SWAPFILE | S_IMMUTABLE) the whole time: unpinning
 * it, even for a moment, would let a truncate free blocks that the CoW
 * worker is writing to directly. vfs_fallocate() refuses a swapfile, so the
 * filesystem's ->fallocate is called the way vfs_fallocate() calls it once
 * its checks have passed; neither ext4 nor xfs looks at S_SWAPFILE or
 * S_IMMUTABLE itself (checked against 6.1 and 6.12), and only those two
 * filesystems can hold a CoW file.
 *
 * The new range is allocated in two calls: first beyond the end of the file
 * (FALLOC_FL_KEEP_SIZE), which can fail half way with ENOSPC but leaves the
 * size alone, then over the last 4 KiB of it, now allocated, without
 * KEEP_SIZE, which only moves the size. So the size on disk is either the
 * old one or the new one, and cow_file_attach() (which wants the size bsnap
 * knows) keeps working after a failed attempt. Blocks a failed first call
 * allocated stay with the file beyond its end until it is deleted.
 *
 * The second call covers only the last 4 KiB because xfs reserves blocks
 * for the whole range of a fallocate before it looks at what is allocated
 * already (xfs_alloc_file_space()): over the whole range it needed the
 * growth free a second time, and failed with ENOSPC near full after the
 * first call had taken the space.
 */
#include "log.h"

#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/math64.h>
#include <linux/mount.h>
#include <linux/overflow.h>
#include <linux/rcupdate.h>
#include <linux/sizes.h>
#include <linux/statfs.h>

#include "cow_extent_map.h"
#include "cow_file.h"

/* Allocate [@size, @size + @grow) of @f and move its size there. */
static int cow_fallocate(struct file *f, u64 size, u64 grow)
{
	struct super_block *sb = file_inode(f)->i_sb;
	int ret;

	/* Holds off remount read-only; -EROFS if it already happened. */
	ret = mnt_want_write(f->f_path.mnt);
	if (ret)
		return ret;
	/*
	 * A frozen filesystem would block here with the control mutex held
	 * (and shutdown's freeze waits for that mutex): refuse instead.
	 */
	if (!sb_start_write_trylock(sb)) {
		ret = -EBUSY;
		goto out;
	}
	ret = f->f_op->fallocate(f, FALLOC_FL_KEEP_SIZE, size, grow);
	if (!ret)
		ret = f->f_op->fallocate(f, 0, size + grow - SZ_4K, SZ_4K);
	sb_end_write(sb);
out:
	mnt_drop_write(f->f_path.mnt);
	return ret;
}

int cow_file_grow(struct cow_file *cf, struct file *f, u64 grow)
{
	struct inode *inode = file_inode(f);
	struct cow_map *old, *map;
	u64 size = cf->size, want, now;
	struct kstatfs st;
	int ret;

	if (!cf->dentry || d_inode(cf->dentry) != inode)
		return -EINVAL;
	if (!grow || !IS_ALIGNED(grow, SZ_4K))
		return -EINVAL;
	if (check_add_overflow(size, grow, &want) ||
	    want > inode->i_sb->s_maxbytes || want > LLONG_MAX)
		return -EFBIG;
	if (!f->f_op->fallocate)
		return -EOPNOTSUPP;
	/*
	 * On ext4 a fallocate that fails half way keeps what it allocated
	 * (beyond the end of the file, until it is deleted): do not start
	 * one that cannot fit.
	 */
	ret = vfs_statfs(&f->f_path, &st);
	if (ret)
		return ret;
	if (div64_u64(grow, st.f_bsize) > st.f_bavail)
		return -ENOSPC;

	ret = cow_fallocate(f, size, grow);
	now = i_size_read(inode);
	if (now == size)
		return ret ? ret : -EIO;
	if (now != want) {
		/* Not what the two calls above can leave: do not trust it. */
		pr_err("CoW file: size %llu after growing %llu by %llu\n",
		       now, size, grow);
		return -ESTALE;
	}

	map = cow_map_build(inode, cf->bdev, now);
	if (IS_ERR(map)) {
		pr_err("CoW file: mapping it after growth failed (%ld)\n",
		       PTR_ERR(map));
		return -ESTALE;
	}
	old = rcu_dereference_protected(cf->map, true);
	if (!cow_map_extends(map, old)) {
		pr_err("CoW file: its extents moved while growing it\n");
		cow_map_free(map);
		return -ESTALE;
	}
	/* The map first: whoever sees the new size must find its extents. */
	rcu_assign_pointer(cf->map, map);
	/* Pairs with the acquire in cow_check_range(). */
	smp_store_release(&cf->size, now);
	synchronize_rcu();
	cow_map_free(old);
	return 0;
}
