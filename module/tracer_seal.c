// SPDX-License-Identifier: GPL-2.0
/*
 * Write intent for the CoW file's header.
 *
 * The header on disk may say CLEAN only while its change bitmap names every
 * change made to the device. Sealing makes it so: new writes are held from
 * the first instant, every write already let through has marked the change
 * map (hook sync) or been copied (pipeline drain), then bitmap, index and a
 * CLEAN header are written. The first write after that waits in
 * t->sealed_bios until a worker has written the header not clean again
 * (FUA): a crash at any point leaves either a clean header whose bitmap is
 * complete, or a header that is not clean and makes reload refuse.
 *
 * Sealing happens when nothing writes to the device through a filesystem:
 * at umount, remount read-only, shutdown and module unload. Reload starts
 * sealed before it even looks for the file (tracer_reload.c): if it is
 * still sealed once the clean header is read, no write came in between.
 */
#include "log.h"

#include <linux/bio.h>
#include <linux/workqueue.h>

#include "bio_hook.h"
#include "cow_file.h"
#include "cow_pipeline.h"
#include "cow_store.h"
#include "direct_io.h"
#include "tracer.h"

static struct workqueue_struct *seal_wq;

static void tracer_unseal_work(struct work_struct *work)
{
	tracer_unseal(container_of(work, struct tracer, unseal_work));
}

/*
 * A broken chain on disk: whatever the header said (clean, or in use with
 * write intent), reload must now refuse the file.
 */
void tracer_write_broken(struct tracer *t)
{
	int ret = 0;

	/* The fs mutex keeps t->store from being switched (a transition). */
	mutex_lock(&bsnap_fs_mutex);
	mutex_lock(&t->seal_mutex);
	if (t->store)
		ret = cow_store_write_meta(t->store, t->cbt,
					   tracer_cow_flags(t, false), false);
	mutex_unlock(&t->seal_mutex);
	mutex_unlock(&bsnap_fs_mutex);
	if (ret)
		pr_err("bsnap%u: cannot mark the CoW file broken (%d)\n",
		       t->minor, ret);
}

static void tracer_broken_work(struct work_struct *work)
{
	tracer_write_broken(container_of(work, struct tracer, broken_work));
}

void tracer_seal_init(struct tracer *t)
{
	spin_lock_init(&t->seal_lock);
	bio_list_init(&t->sealed_bios);
	INIT_WORK(&t->unseal_work, tracer_unseal_work);
	INIT_WORK(&t->broken_work, tracer_broken_work);
	mutex_init(&t->seal_mutex);
}

void tracer_write_broken_async(struct tracer *t)
{
	queue_work(seal_wq, &t->broken_work);
}

static void tracer_set_sealed(struct tracer *t, bool sealed,
			      struct bio_list *held)
{
	unsigned long flags;

	spin_lock_irqsave(&t->seal_lock, flags);
	WRITE_ONCE(t->sealed, sealed);
	if (held) {
		bio_list_merge(held, &t->sealed_bios);
		bio_list_init(&t->sealed_bios);
	}
	spin_unlock_irqrestore(&t->seal_lock, flags);
}

int tracer_seal(struct tracer *t)
{
	int ret;

	/* A failed snapshot still has a complete change map (see flags). */
	if (!t->store || t->chain_broken)
		return -EUCLEAN;
	mutex_lock(&t->seal_mutex);
	if (t->sealed) {
		mutex_unlock(&t->seal_mutex);
		return 0;
	}
	tracer_set_sealed(t, true, NULL);
	bsnap_hook_sync();
	if (t->pipe)
		cow_pipeline_drain(t->pipe);
	ret = cow_store_probe(t->store);
	if (!ret)
		ret = cow_store_sync(t->store, t->cbt,
				     tracer_cow_flags(t, true));
	mutex_unlock(&t->seal_mutex);
	if (ret) {
		pr_err("bsnap%u: cannot write the CoW file's metadata (%d)\n",
		       t->minor, ret);
		tracer_set_error(t, ret);
		tracer_unseal(t);
	}
	return ret;
}

void tracer_unseal(struct tracer *t)
{
	struct bio_list held = BIO_EMPTY_LIST;
	struct bio *bio;
	int ret = 0;

	mutex_lock(&t->seal_mutex);
	if (READ_ONCE(t->sealed)) {
		/* No store yet: reload is still looking for the file. */
		if (t->store)
			ret = cow_store_write_meta(t->store, t->cbt,
						   tracer_cow_flags(t, false), false);
		tracer_set_sealed(t, false, &held);
	}
	mutex_unlock(&t->seal_mutex);
	if (ret) {
		/* The header may still say CLEAN: nothing may trust it. */
		pr_err("bsnap%u: cannot mark the CoW file in use (%d): take a full backup\n",
		       t->minor, ret);
		tracer_break_chain(t, ret);
	}
	while ((bio = bio_list_pop(&held))) {
		if (!tracer_trace_bio(t, bio))
			bsnap_submit_own(bio);
	}
}

bool tracer_attach_sealed(struct tracer *t, struct cow_store *store)
{
	bool sealed;
	int ret = 0;

	/* Lock order: the fs mutex comes before the seal mutex. */
	mutex_lock(&bsnap_fs_mutex);
	t->store = store;
	mutex_unlock(&bsnap_fs_mutex);
	mutex_lock(&t->seal_mutex);
	sealed = READ_ONCE(t->sealed);
	if (!sealed)
		ret = cow_store_write_meta(store, t->cbt, tracer_cow_flags(t, false),
					   false);
	mutex_unlock(&t->seal_mutex);
	if (ret)
		tracer_break_chain(t, ret);
	return sealed;
}

void tracer_unseal_async(struct tracer *t)
{
	queue_work(seal_wq, &t->unseal_work);
}

void tracer_seal_stop(struct tracer *t)
{
	bool held;

	flush_work(&t->unseal_work);
	/* A write held since then: unseal for it, else stay sealed. */
	spin_lock_irq(&t->seal_lock);
	held = !bio_list_empty(&t->sealed_bios);
	spin_unlock_irq(&t->seal_lock);
	if (held)
		tracer_unseal(t);
	cancel_work_sync(&t->unseal_work);
	flush_work(&t->broken_work);
}

int bsnap_seal_init(void)
{
	seal_wq = alloc_workqueue("bsnap_seal", WQ_MEM_RECLAIM, 0);
	return seal_wq ? 0 : -ENOMEM;
}

void bsnap_seal_exit(void)
{
	destroy_workqueue(seal_wq);
}
