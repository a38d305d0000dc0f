// SPDX-License-Identifier: GPL-2.0
/*
 * Data slot allocation (see cow_slots.h).
 */
#include "log.h"

#include <linux/err.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "cow_slots.h"

void cow_slots_init(struct cow_slots *s, u64 base_end, u64 next, u64 used,
		    unsigned int max_ranges)
{
	s->max_ranges = max_ranges;
	spin_lock_init(&s->lock);
	s->base_end = base_end;
	s->next = next;
	s->used = used;
	s->avail = next < base_end ? base_end - next : 0;
	s->ranges = NULL;
	s->nr_ranges = 0;
	s->pos = 0;
	s->low_reported = false;
}

void cow_slots_free(struct cow_slots *s)
{
	kvfree(s->ranges);
	s->ranges = NULL;
	s->nr_ranges = 0;
	s->pos = 0;
}

int cow_slots_alloc(struct cow_slots *s, unsigned int n, u64 *first)
{
	const struct cow_slot_range *r;
	u64 start, got;

	spin_lock(&s->lock);
	if (s->next < s->base_end) {
		start = s->next;
		got = min_t(u64, n, s->base_end - start);
	} else {
		while (s->pos < s->nr_ranges &&
		       s->ranges[s->pos].end <= s->next)
			s->pos++;
		if (s->pos == s->nr_ranges) {
			spin_unlock(&s->lock);
			return -ENOSPC;
		}
		r = &s->ranges[s->pos];
		start = max(r->first, s->next);
		got = min_t(u64, n, r->end - start);
	}
	s->next = start + got;
	s->used += got;
	s->avail -= got;
	spin_unlock(&s->lock);
	*first = start;
	return got;
}

static int range_cmp(const void *a, const void *b)
{
	const struct cow_slot_range *x = a, *y = b;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return 0;
}

/* Usable slots from the cursor on; lock held. */
static u64 slots_count_avail(const struct cow_slots *s)
{
	u64 n = s->next < s->base_end ? s->base_end - s->next : 0;
	unsigned int i;

	for (i = s->pos; i < s->nr_ranges; i++)
		if (s->ranges[i].end > s->next)
			n += s->ranges[i].end -
			     max(s->ranges[i].first, s->next);
	return n;
}

static bool slots_low(const struct cow_slots *s, u64 more)
{
	u64 cap = s->used + s->avail;

	return cap && (s->used + more) * 100 >= cap * BSNAP_COW_LOW_PERCENT;
}

int cow_slots_add(struct cow_slots *s, const struct cow_slot_range *add,
		  unsigned int nr, u64 limit, u64 *added)
{
	struct cow_slot_range *all, *old;
	unsigned int i, n = 0, m = 0, old_nr;
	u64 floor, before;

	*added = 0;
	if (!nr)
		return 0;
	if (!s->max_ranges)
		return -EOPNOTSUPP;
	/*
	 * Spent slots are kept too: the image reads every usable slot as
	 * zeros (cow_slots_usable()), whether it holds data yet or not.
	 */
	floor = s->base_end;
	old_nr = s->nr_ranges;

	/* Only this function replaces s->ranges: no lock needed to read it. */
	all = kvmalloc_array((size_t)old_nr + nr, sizeof(*all), GFP_KERNEL);
	if (!all)
		return -ENOMEM;
	for (i = 0; i < old_nr; i++)
		all[n++] = s->ranges[i];
	for (i = 0; i < nr; i++) {
		u64 first = max(add[i].first, floor);
		u64 end = min(add[i].end, limit);

		if (first < end)
			all[n++] = (struct cow_slot_range){ first, end };
	}
	sort(all, n, sizeof(*all), range_cmp, NULL);
	for (i = 0; i < n; i++) {
		if (m && all[i].first <= all[m - 1].end) {
			all[m - 1].end = max(all[m - 1].end, all[i].end);
			continue;
		}
		if (m == s->max_ranges) {
			/*
			 * Cutting the sorted list could drop a range named
			 * before, whose slots may hold data the image reads:
			 * refuse the whole call and keep the table as it is.
			 */
			pr_warn("CoW file: more than %u usable ranges; the space added stays unused\n",
				s->max_ranges);
			kvfree(all);
			return -E2BIG;
		}
		all[m++] = all[i];
	}

	spin_lock(&s->lock);
	old = s->ranges;
	before = s->avail;
	s->ranges = all;
	s->nr_ranges = m;
	s->pos = 0;
	s->avail = slots_count_avail(s);
	*added = s->avail > before ? s->avail - before : 0;
	if (!slots_low(s, 0))
		s->low_reported = false;
	spin_unlock(&s->lock);
	kvfree(old);
	return 0;
}

bool cow_slots_check_low(struct cow_slots *s, unsigned int n)
{
	bool fire;

	spin_lock(&s->lock);
	fire = !s->low_reported && slots_low(s, n);
	if (fire)
		s->low_reported = true;
	spin_unlock(&s->lock);
	return fire;
}

unsigned int cow_slots_export(struct cow_slots *s, struct cow_slot_range *out,
			      unsigned int max)
{
	unsigned int n;

	spin_lock(&s->lock);
	n = min(max, s->nr_ranges);
	memcpy(out, s->ranges, n * sizeof(*out));
	spin_unlock(&s->lock);
	return n;
}

bool cow_slots_usable(struct cow_slots *s, u64 slot)
{
	unsigned int lo = 0, hi;
	bool usable = false;

	spin_lock(&s->lock);
	hi = s->nr_ranges;
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (slot < s->ranges[mid].first) {
			hi = mid;
		} else if (slot >= s->ranges[mid].end) {
			lo = mid + 1;
		} else {
			usable = true;
			break;
		}
	}
	spin_unlock(&s->lock);
	return usable;
}

u64 cow_slots_spent(const struct cow_slots *s)
{
	return READ_ONCE(s->next) - 1;
}

u64 cow_slots_used(const struct cow_slots *s)
{
	return READ_ONCE(s->used);
}

u64 cow_slots_avail(const struct cow_slots *s)
{
	return READ_ONCE(s->avail);
}
