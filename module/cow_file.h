/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The CoW file: a file on the traced filesystem that holds bsnap's data.
 *
 * It is preallocated with fallocate (never zero-filled), pinned while in use
 * (S_IMMUTABLE | S_SWAPFILE: unlink, rename, truncate and write-open fail
 * with EPERM and the filesystem cannot move its extents), and its extents are
 * mapped once, so that every later read and write goes straight to device
 * sectors through direct_io.h, with no filesystem involved. That is what lets
 * tracing continue through umount and shutdown.
 *
 * While the filesystem is mounted the file is held by a dentry reference,
 * never by an open struct file (which would pin the mount and make umount
 * fail with EBUSY, and make a remount read-only fail). At umount the dentry
 * is let go before the filesystem's dcache is shrunk (cow_file_detach());
 * the extent map stays and I/O goes on. At the next mount the file is found
 * again by its path inside the filesystem and must still have the very same
 * extents (cow_file_attach()).
 *
 * Two kinds of regions, never mixed (the elastio #249 trap):
 *  - the metadata region [0, meta_size) is written with zeros through the
 *    filesystem once at creation, so its extents are "written" and reads
 *    through the filesystem (update-img, reload) see what bsnap later writes
 *    there directly;
 *  - the rest stays unwritten (fallocated) and is only ever accessed directly
 *    by the module; through the filesystem it reads as zeros.
 */
#ifndef BSNAP_COW_FILE_H
#define BSNAP_COW_FILE_H

#include <linux/blk_types.h>
#include <linux/types.h>

struct block_device;
struct bsnap_io;
struct cow_extent;
struct page;

struct cow_map;

struct cow_file {
	struct file *filp;	/* only while being created */
	struct dentry *dentry;	/* while mounted and pinned, else NULL */
	struct block_device *bdev; /* the traced device the file lives on */
	u64 size;		   /* bytes; grows after the map (acquire) */
	u64 meta_size;		   /* bytes written through the fs at creation */
	/*
	 * Extents (cow_extent_map.h), read lock-free under RCU; replaced
	 * only by cow_file_grow(), under the control mutex.
	 */
	struct cow_map __rcu *map;
	bool pinned;
};

/*
 * Create @path (absolute; must not exist: -EEXIST) on the filesystem mounted
 * from @bdev (else -EXDEV; read-only: -EROFS), fallocate @size bytes (-ENOSPC
 * if it does not fit), write zeros to [0, @meta_size) through the filesystem
 * and sync, pin it and map its extents. Must run in process context with a
 * user mm (ioctl). On failure nothing is left behind (the file is removed).
 * Returns the cow_file or an ERR_PTR.
 */
struct cow_file *cow_file_create(const char *path, u64 size, u64 meta_size,
				 struct block_device *bdev);

/*
 * Let go of the open file of cow_file_create() once the tracer that holds
 * @cf is published: from then on the dentry holds the file.
 */
void cow_file_close_open(struct cow_file *cf);

/*
 * Unpin and let go of the file. Drops the file's page cache first, so that
 * later reads through the filesystem see what was written directly. With
 * @remove, the file is also unlinked (if it is still held).
 */
void cow_file_release(struct cow_file *cf, bool remove);

/* The filesystem goes away: unpin and drop the dentry, keep the map. */
void cow_file_detach(struct cow_file *cf);

/* True if @cf is held through a dentry of @sb. */
bool cow_file_attached_to(const struct cow_file *cf,
			  const struct super_block *sb);

/*
 * Find the file again at @relpath under @root (a mounted filesystem's root)
 * and pin it: it must have the size and the extents recorded in @cf
 * (-ESTALE otherwise, -ENOENT if missing). Needs a user mm for FIEMAP.
 */
int cow_file_attach(struct cow_file *cf, struct dentry *root,
		    const char *relpath);

/*
 * For reload: look up @relpath under @root on a filesystem nobody can
 * write (read-only, no log recovery), and map its extents without pinning.
 * The result holds no dentry. ERR_PTR on error.
 */
struct cow_file *cow_file_map_unpinned(struct dentry *root,
				       const char *relpath,
				       struct block_device *bdev);

/* The path of the file inside its filesystem (for reload), kmalloc'ed. */
char *cow_file_fs_path(const struct cow_file *cf);

/*
 * Add bios for [@off, @off + @len) of the file to @io, split at extent
 * boundaries. @len and @off are multiples of 512 and inside the file
 * (-EINVAL otherwise; -ENOSPC if beyond the end).
 */
int cow_file_io_add(struct bsnap_io *io, struct cow_file *cf, blk_opf_t opf,
		    u64 off, struct page **pages, unsigned int pg_off,
		    size_t len);

/*
 * Grow the pinned file by @grow bytes (a multiple of 4 KiB) while it stays
 * in use: allocate them (unwritten) through @f, an open file of the same
 * inode, map the new extents and publish the new map. The file stays
 * pinned throughout, so the filesystem's own fallocate is called past the
 * VFS checks that refuse a swapfile. -ESTALE if the extents already mapped
 * moved (never expected; the file must then no longer be written). On
 * -ENOSPC and other errors the file keeps its size and map. Needs a user mm.
 */
int cow_file_grow(struct cow_file *cf, struct file *f, u64 grow);

/*
 * Copy extent @i (in file order) to *@e; false past the last one. The
 * control mutex keeps the map from changing between calls.
 */
bool cow_file_extent(const struct cow_file *cf, unsigned int i,
		     struct cow_extent *e);

/* Synchronous direct I/O on a kernel buffer. */
int cow_file_rw_sync(struct cow_file *cf, blk_opf_t opf, u64 off, void *buf,
		     size_t len);

/*
 * Device sector holding file offset @off (a multiple of 512) and, in
 * @contig, how many bytes from there are contiguous on the device.
 * -ENOSPC beyond the end of the file. Lock-free (RCU).
 */
int cow_file_map(const struct cow_file *cf, u64 off, sector_t *sector,
		 u64 *contig);

/* True if all of [@sector, @sector + @nr) lies in one extent of the file. */
bool cow_file_owns_range(const struct cow_file *cf, sector_t sector,
			 sector_t nr);

/*
 * True if device sector @sector belongs to the CoW file; its file offset in
 * *@off. If not, *@gap sectors from @sector on do not belong to it either
 * (U64_MAX: none after it). Lock-free (RCU).
 */
bool cow_file_sector_off(const struct cow_file *cf, sector_t sector,
			 u64 *off, u64 *gap);

#endif
