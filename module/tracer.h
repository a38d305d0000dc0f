/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A tracer: one traced block device, its mode and state, and what it owns.
 *
 *   tracer.c        the table of tracers and the per-bio hot path
 *   tracer_state.c  the state machine: setup, destroy, (later) transitions
 *   cow_store.c     where CoW data and metadata live (snapshot mode)
 *   cow_pipeline.c  copy-before-write of held writes
 *   snap_dev.c      the read-only image /dev/bsnapN
 */
#ifndef BSNAP_TRACER_H
#define BSNAP_TRACER_H

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/list.h>
#include <linux/types.h>
#include <uapi/bsnap.h>

#include "compat.h"

/* Index cache per snapshot when setup passes 0 (about 8 GiB of copies). */
#define BSNAP_DEFAULT_CACHE_SIZE (16ULL << 20)

struct bio;
struct cbt_map;
struct cow_pipeline;
struct cow_store;
struct snap_dev;

struct tracer {
	struct list_head node;	/* in the hook's table, RCU */
	unsigned int minor;
	dev_t dev;		/* the traced device (a partition or a disk) */
	struct bsnap_bdev_ref bdev_ref;
	sector_t nr_sectors;	/* device size when tracing started */

	u32 state;		/* BSNAP_STATE_* except FAILED; control mutex */
	int error;		/* first failure (negative errno), or 0 */
	u64 seqid;
	u8 uuid[BSNAP_UUID_SIZE];
	u64 cache_size;
	u32 flags;		/* BSNAP_FLAG_* */
	char *bdev_path;
	char *cow_path;

	struct cbt_map *cbt;	/* changed blocks since the current snapshot */

	/* Snapshot mode only (NULL in incremental mode). */
	struct cow_store *store;
	struct cow_pipeline *pipe;
	struct snap_dev *image;
};

/*
 * The first sector of @bio relative to the traced device. Partition
 * remapping adds the partition's start to bi_sector (and sets BIO_REMAPPED)
 * but leaves bi_bdev alone, so a bio split after that comes back to the
 * hook carrying a whole-disk sector.
 */
static inline sector_t tracer_bio_sector(struct bio *bio)
{
	sector_t sector = bio->bi_iter.bi_sector;

	if (bio_flagged(bio, BIO_REMAPPED) && bdev_is_partition(bio->bi_bdev))
		sector -= bio->bi_bdev->bd_start_sect;
	return sector;
}

/* The table. Readers: RCU (hook) or the control mutex. */
struct tracer *tracer_find_minor(unsigned int minor);
struct tracer *tracer_find_dev(dev_t dev);
void tracer_publish(struct tracer *t);
void tracer_unpublish(struct tracer *t);
/* Calls @fn for each tracer in minor order; control mutex held. */
void tracer_for_each(void (*fn)(struct tracer *t, void *arg), void *arg);

/*
 * The hot path, called for every bio by the hook. Returns true if bsnap took
 * the bio over (it will be submitted later), false if the caller submits it.
 */
bool tracer_handle_bio(struct bio *bio);

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

#endif
