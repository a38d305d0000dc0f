/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A tracer: one traced block device, its mode and state, and what it owns.
 *
 *   tracer.c        the table of tracers and the per-bio hot path
 *   tracer_state.c  the state machine: setup, destroy, transitions
 *   tracer_mount.c  mount, remount and umount: active <-> dormant
 *   tracer_reload.c reload after reboot: unverified -> active
 *   tracer_seal.c   write intent: the CoW header is CLEAN only while sealed
 *   tracer_expand.c growing the CoW file of a running snapshot
 *   cow_store.c     where CoW data and metadata live (snapshot mode)
 *   cow_slots.c     which data slots may take CoW data, and which is next
 *   cow_pipeline.c  copy-before-write of held writes
 *   snap_dev.c      the read-only image /dev/bsnapN
 */
#ifndef BSNAP_TRACER_H
#define BSNAP_TRACER_H

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>
#include <uapi/bsnap.h>

#include "compat.h"

/* Index cache per snapshot when setup passes 0 (about 8 GiB of copies). */
#define BSNAP_DEFAULT_CACHE_SIZE (16ULL << 20)

struct bio;
struct request;
struct cbt_map;
struct cow_pipeline;
struct cow_store;
struct snap_dev;
struct super_block;

/*
 * The state machine (docs/states.md): a mode and a condition. Once a tracer
 * is published only tracer_set_state() changes them, checking each move
 * against its table; the uapi state bits are a view (tracer_state_bits).
 * A stored error (failed) is apart: it can come in any state.
 */
enum tracer_mode { TRACER_INCREMENTAL, TRACER_SNAPSHOT };
enum tracer_cond { TRACER_DORMANT, TRACER_ACTIVE, TRACER_UNVERIFIED };

struct tracer {
	struct list_head node;	/* in the hook's table, RCU */
	unsigned int minor;
	dev_t dev;		/* the traced device (a partition or a disk) */
	struct bsnap_bdev_ref bdev_ref;
	sector_t nr_sectors;	/* device size when tracing started */
	/*
	 * Where the device lies on its whole disk: the hook maps a write to
	 * any device of @disk (the disk itself, any partition) that lands in
	 * [start_sect, start_sect + nr_sectors) onto this tracer.
	 */
	struct gendisk *disk;
	sector_t start_sect;

	enum tracer_mode mode;	/* tracer_set_state(), fs mutex */
	enum tracer_cond cond;
	int error;		/* first failure (negative errno), or 0 */
	bool chain_broken;	/* changes may be missing: no incremental */
	u64 seqid;
	u8 uuid[BSNAP_UUID_SIZE];
	u64 cache_size;
	u32 flags;		/* BSNAP_FLAG_* */
	char *bdev_path;
	char *cow_path;
	char *fs_path;		/* the CoW file's path inside the filesystem */
	bool holds_module;	/* while the filesystem is mounted; fs mutex */
	bool umounting;		/* between the two halves of an unmount */

	/*
	 * Write intent (tracer_seal.c): while @sealed, the header on disk
	 * says CLEAN, so writes wait in @sealed_bios until it no longer does.
	 */
	bool sealed;
	spinlock_t seal_lock;
	struct bio_list sealed_bios;
	struct work_struct unseal_work;
	struct work_struct broken_work;	/* write BROKEN into the header */
	struct mutex seal_mutex;	/* sealing and unsealing */

	struct cbt_map *cbt;	/* changed blocks since the current snapshot */

	/* Snapshot mode only (NULL in incremental mode). */
	struct cow_store *store;
	struct cow_pipeline *pipe;
	struct snap_dev *image;
};

/*
 * The first sector of @bio relative to @t's device. The hook gives @t only
 * bios that lie wholly in it, whichever device of the disk they were sent to.
 */
static inline sector_t tracer_bio_sector(const struct tracer *t,
					 struct bio *bio)
{
	return bsnap_bio_disk_sector(bio) - t->start_sect;
}

/*
 * The table. Readers: RCU (hook), the control mutex or the fs mutex; writers
 * hold both mutexes. Lock order: bsnap_ctl_mutex, then s_umount (freeze),
 * then bsnap_fs_mutex, then a tracer's seal_mutex. The mount hooks run
 * under s_umount and take only the fs mutex (and seal mutexes); nothing
 * waits for the mount hooks' SRCU or freezes while holding either.
 */
extern struct mutex bsnap_fs_mutex;

struct tracer *tracer_find_minor(unsigned int minor);
struct tracer *tracer_find_dev(dev_t dev);
void tracer_publish(struct tracer *t);
void tracer_unpublish(struct tracer *t);
struct tracer *tracer_first(void);
/* Calls @fn for each tracer in minor order; control mutex held. */
void tracer_for_each(void (*fn)(struct tracer *t, void *arg), void *arg);

/*
 * The hot path, called for every bio by the hook. Returns true if bsnap took
 * the bio over (it will be submitted later), false if the caller submits it.
 * A write to any device of a disk that holds a traced device is mapped onto
 * it by its place on the disk; a write that straddles the edge of a traced
 * device is split there.
 */
bool tracer_handle_bio(struct bio *bio);
/* The same for a bio that lies wholly in @t's device, already looked up. */
bool tracer_trace_bio(struct tracer *t, struct bio *bio);
/*
 * A passthrough request (SG_IO, NVMe passthrough), which bypasses the bio
 * hook, is about to run: break the chain of every tracer on its disk if it
 * may write. Any context.
 */
void tracer_handle_passthrough(struct request *rq);
/*
 * Is [start, start + nr) of @disk free of traced devices? Control mutex
 * held (setup and reload refuse a device that overlaps a traced one).
 */
bool tracer_disk_range_free(struct gendisk *disk, sector_t start, sector_t nr);
int bsnap_tracer_init(void);
void bsnap_tracer_exit(void);

/*
 * Changes may be missing from @t's map (the reason is logged by the
 * caller): store @error and refuse any further incremental.
 */
void tracer_break_chain(struct tracer *t, int error);

/*
 * Keep @store's write-intent bitmap (write_intent.h) for @cbt, the change
 * map of @store's file, reporting to @t; clearing bits only in
 * @incremental mode.
 */
int tracer_start_intent(struct tracer *t, struct cow_store *store,
			struct cbt_map *cbt, bool incremental);

/* The copy-before-write pipeline of a snapshot of @t, reporting to @t. */
struct cow_pipeline *tracer_pipeline_create(struct tracer *t,
					    struct cbt_map *cbt,
					    struct cow_store *store);

/* Send @event (BSNAP_EVENT_*) about @t to userspace. Any context. */
void tracer_event(const struct tracer *t, const char *event);

/* Record the first failure of @t (later ones are only logged). */
void tracer_set_error(struct tracer *t, int error);

static inline int tracer_error(const struct tracer *t)
{
	return READ_ONCE(t->error);
}

/* Serialises every control operation and the table's writers. */
extern struct mutex bsnap_ctl_mutex;

/* Control operations (tracer_state.c), called with bsnap_ctl_mutex held. */
int tracer_setup_snapshot(const struct bsnap_setup *arg, const char *bdev_path,
			  const char *cow_path);
int tracer_destroy(unsigned int minor);
int tracer_transition_incremental(unsigned int minor);
int tracer_transition_snapshot(const struct bsnap_transition_snapshot *arg,
			       const char *cow_path);
int tracer_reconfigure(const struct bsnap_reconfigure *arg);
int tracer_fill_info(unsigned int minor, struct bsnap_info *info);
int tracer_free_minor(unsigned int *minor);
u32 tracer_state_bits(const struct tracer *t);
/*
 * Move @t to (@mode, @cond), with the fs mutex held, and send @event (a
 * BSNAP_EVENT_*, or NULL). A move the table does not allow is a bug:
 * WARN_ON_ONCE, and the state stays as it was.
 */
void tracer_set_state(struct tracer *t, enum tracer_mode mode,
		      enum tracer_cond cond, const char *event);
/* The first state of a tracer not yet published. */
void tracer_init_state(struct tracer *t, enum tracer_mode mode,
		       enum tracer_cond cond);
int tracer_reload(const struct bsnap_setup *arg, const char *bdev_path,
		  const char *cow_path, bool snapshot);
/* tracer_expand.c */
int tracer_expand_cow(struct bsnap_expand_cow *arg);
int tracer_cow_usable(struct bsnap_cow_usable *arg);

/* Shared by the state machine's files (tracer_state.c). */
/*
 * A tracer for setup or reload: the minor is free, @bdev_path a block
 * device nobody traces yet, held open. Not published. ERR_PTR on error.
 */
struct tracer *tracer_new(const struct bsnap_setup *arg,
			  const char *bdev_path, const char *cow_path);
void tracer_free(struct tracer *t);
int tracer_add_image(struct tracer *t);

/* Module unload and shutdown (tracer_state.c): seal what can be sealed. */
void tracer_seal_all(void);
void tracer_unload_all(void);

/* The header flags of @t's CoW file: sealed (@clean) or in use. */
u32 tracer_cow_flags(const struct tracer *t, bool clean);

/* The module reference held while the filesystem is mounted; fs mutex. */
void tracer_get_module(struct tracer *t);
void tracer_put_module(struct tracer *t);

/* tracer_seal.c */
void tracer_seal_init(struct tracer *t);
/* Seal @t's CoW file if nothing can write behind bsnap's back. */
int tracer_seal(struct tracer *t);
/* Write the header not clean and let held writes go. */
void tracer_unseal(struct tracer *t);
/*
 * Reload: hand @store to @t, which has been sealed since it was published.
 * True if it still is (no write came in: the clean header on disk is
 * right); else the header is written not clean and false returned.
 */
bool tracer_attach_sealed(struct tracer *t, struct cow_store *store);
/* The same from a worker; any context. */
void tracer_unseal_async(struct tracer *t);
/*
 * Write the header as @t's state says (BROKEN once the chain is broken);
 * process context, neither the fs nor a seal mutex held.
 */
void tracer_write_broken(struct tracer *t);
/* The same from a worker; any context. */
void tracer_write_broken_async(struct tracer *t);
/* Before @t is freed: no unseal work may run any more. */
void tracer_seal_stop(struct tracer *t);
int bsnap_seal_init(void);
void bsnap_seal_exit(void);

/* tracer_mount.c, called by the mount hooks. */
void tracer_sb_shutdown_begin(struct super_block *sb);
void tracer_sb_shutdown_end(dev_t dev);
void tracer_sb_changed(struct super_block *sb);

#endif
