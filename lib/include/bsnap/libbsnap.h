/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libbsnap: bsnap's C library for backup software (libbsnap.so.0,
 * pkg-config bsnap).
 *
 * Control: set up, reload, transition, reconfigure and destroy traced
 * devices, snapshot several at one instant, grow a CoW file, read a
 * device's state. CoW files: read a file's header (chain UUID, seqid, clean,
 * sizes) and walk its runs of changed blocks, to move an incremental
 * yourself (object storage, dedup) instead of update-img's image file.
 *
 * Every function that can fail returns 0 (or a count) on success and a
 * negative errno on failure; bsnap_reason() then gives one sentence about
 * that failure, its cause and the next step ("setup-snapshot: /dev/sdb1 is
 * traced already, by minor 0: destroy minor 0 first, or take the next
 * snapshot with transition-to-snapshot 0: Device or resource busy"). The
 * errnos are those of bsnapctl (bsnap(7)).
 *
 * A struct bsnap_ctx is one context: it holds the control device (opened at
 * the first control call, so a context that only reads CoW files needs no
 * module) and the last failure's reason. Use a context from one thread at a
 * time; several contexts are independent.
 *
 * Structs the library fills start with 'size': set it to sizeof() of the
 * struct as you know it. A library with a longer struct fills only what
 * you know; a shorter struct leaves the rest of yours zero. Fields are only
 * ever appended: the ABI of libbsnap.so.0 stays. No function is named like
 * a struct of the uapi headers (C++ would hide the struct).
 */
#ifndef LIBBSNAP_H
#define LIBBSNAP_H

#include <stddef.h>
#include <stdint.h>

#include <bsnap/uapi/bsnap.h>	  /* BSNAP_STATE_*, BSNAP_MAX_MINORS, ... */
#include <bsnap/uapi/bsnap_cow.h> /* BSNAP_COW_CLEAN, ... */

#ifdef __cplusplus
extern "C" {
#endif

#define LIBBSNAP_VERSION_MAJOR 0

struct bsnap_ctx;

/* A new context in *ctx. 0 or -ENOMEM. Opens nothing yet. */
int bsnap_ctx_new(struct bsnap_ctx **ctx);
/* Frees the context and closes what it opened. NULL is allowed. */
void bsnap_ctx_free(struct bsnap_ctx *ctx);
/* The reason of the last failure of a call on ctx, "" if none. Valid
 * until the next call on ctx. */
const char *bsnap_reason(const struct bsnap_ctx *ctx);

/* The module's version: 0, or -ENOENT if the module is not loaded. */
int bsnap_module_version(struct bsnap_ctx *ctx, unsigned *abi_version, char *version,
			 size_t version_size);

/* ------------------------------------------------------------ control */

/* Options of setup and reload; NULL means all defaults. */
struct bsnap_setup_options {
	uint32_t size;		 /* sizeof(struct bsnap_setup_options) */
	uint32_t ignore_errors;	 /* nonzero: a failed snapshot stays readable (-i) */
	uint64_t cache_size;	 /* bytes of memory for CoW metadata; 0: default */
	uint64_t fallocate_size; /* bytes of the CoW file (setup); 0: 10 % */
};

/* setup-snapshot: bdev mounted read-write, cow an absolute path on it. */
int bsnap_setup_snapshot(struct bsnap_ctx *ctx, const char *bdev, const char *cow,
			 unsigned minor, const struct bsnap_setup_options *opts);
/* reload-*: before the first mount after a boot; cow relative to the
 * filesystem's root. */
int bsnap_reload_snapshot(struct bsnap_ctx *ctx, const char *bdev, const char *cow,
			  unsigned minor, const struct bsnap_setup_options *opts);
int bsnap_reload_incremental(struct bsnap_ctx *ctx, const char *bdev, const char *cow,
			     unsigned minor, const struct bsnap_setup_options *opts);
int bsnap_transition_to_incremental(struct bsnap_ctx *ctx, unsigned minor);
/* fallocate_size: bytes of the new CoW file, 0: 10 % of the device. */
int bsnap_transition_to_snapshot(struct bsnap_ctx *ctx, unsigned minor, const char *cow,
				 uint64_t fallocate_size);
int bsnap_reconfigure_cache(struct bsnap_ctx *ctx, unsigned minor, uint64_t cache_size);
int bsnap_destroy(struct bsnap_ctx *ctx, unsigned minor);
/* A minor no device uses, in *minor. */
int bsnap_get_free_minor(struct bsnap_ctx *ctx, unsigned *minor);

/* One device of bsnap_snapshot_group(). */
struct bsnap_group_entry {
	const char *bdev; /* setup: the device; NULL: a transition of minor */
	const char *cow;  /* absolute path of the new CoW file */
	unsigned minor;
	const struct bsnap_setup_options *opts; /* setup only; NULL: defaults */
};

/*
 * Snapshots n devices (at most BSNAP_MAX_GROUP) at one instant: each a new
 * snapshot (bdev set) or an incremental device's next one (bdev NULL).
 * On failure *failed (if not NULL) is the index of the device at fault, or
 * n if the group as a whole was refused; no device has changed unless the
 * reason says otherwise.
 */
int bsnap_snapshot_group(struct bsnap_ctx *ctx, const struct bsnap_group_entry *entries,
			 size_t n, size_t *failed);

/*
 * Grows the CoW file of snapshot minor by grow_bytes and makes the new
 * space the snapshot's filesystem had free usable (bsnapctl
 * expand-cow-file). cow: the file's path, NULL to find it from the info.
 * *free_bytes (if not NULL): CoW data the file can take now.
 */
int bsnap_grow_cow_file(struct bsnap_ctx *ctx, unsigned minor, const char *cow, uint64_t grow_bytes,
		     uint64_t *free_bytes);

/* What the module reports about a traced device (bsnap(7), JSON keys). */
struct bsnap_device_info {
	uint32_t size;		/* sizeof(struct bsnap_device_info) */
	uint32_t minor;
	uint32_t state;		/* BSNAP_STATE_* bits */
	int32_t error;		/* positive errno of the first failure, 0 */
	uint64_t cache_size;
	uint64_t falloc_size;	/* bytes of the CoW file; 0 without one */
	uint64_t cow_used_bytes;
	uint64_t cow_free_bytes; /* CoW data the file can take (snapshot) */
	uint64_t cow_data_bytes; /* CoW data the file holds (snapshot) */
	uint64_t seqid;
	uint8_t uuid[16];	/* the chain's UUID */
	uint64_t device_sectors; /* 512-byte sectors */
	uint64_t changed_blocks;
	uint32_t block_size;	/* bytes per changed block */
	uint32_t ignore_errors;
	char bdev[BSNAP_PATH_MAX];
	char cow[BSNAP_PATH_MAX];
};

/* The device of minor; -ENOENT if none. */
int bsnap_get_info(struct bsnap_ctx *ctx, unsigned minor, struct bsnap_device_info *info);

/*
 * The minors of every traced device (from /proc/bsnap-info, root only),
 * increasing: returns how many there are and stores the first max of them.
 */
int bsnap_list(struct bsnap_ctx *ctx, unsigned *minors, size_t max);

/* ------------------------------------------------------------ CoW files */

struct bsnap_cow_file;

/* Open only the header: also a file that is not clean (in use, crashed). */
#define BSNAP_COW_FILE_HEADER_ONLY 0x1u

/*
 * Opens and checks a CoW file (the module's format codec): header, and,
 * without BSNAP_COW_FILE_HEADER_ONLY, its change record: the bitmap of a
 * clean file, or of a version 4 file left by a crash, the bitmap with its
 * write-intent regions (a superset; 'recovered' says so). -EBADMSG for a
 * damaged, unknown, broken or unrecoverable file (the reason says which),
 * -EBUSY for the file a traced device still writes (its changes are not
 * complete: the reason names the minor), other errnos for I/O errors.
 */
int bsnap_cow_file_open(struct bsnap_ctx *ctx, const char *path, unsigned flags,
			struct bsnap_cow_file **file);
void bsnap_cow_file_close(struct bsnap_cow_file *file);

/* A CoW file's header. */
struct bsnap_cow_file_info {
	uint32_t size;		/* sizeof(struct bsnap_cow_file_info) */
	uint32_t version;	/* of the format */
	uint32_t flags;		/* BSNAP_COW_CLEAN, _INDEX_ONLY, _SUPERSEDED */
	uint32_t block_size;	/* bytes per block of the bitmap */
	uint32_t recovered;	/* not clean, read with its write intent: the
				 * runs are a superset of the changes */
	uint8_t uuid[16];	/* the chain's UUID */
	uint64_t seqid;		/* 1 for a chain's first snapshot, +1 each */
	uint64_t device_sectors; /* 512-byte sectors of the traced device */
	uint64_t nr_blocks;	/* blocks of the device */
	uint64_t changed_blocks; /* blocks of the runs (header only: the
				  * header's count) */
	uint64_t file_size;	/* bytes the header says the file has */
	uint64_t data_blocks;	/* blocks of copied data it holds */
};

int bsnap_cow_file_get_info(const struct bsnap_cow_file *file, struct bsnap_cow_file_info *info);

/*
 * The next run of consecutive changed blocks, in increasing order: returns
 * 1 with *first and *count (blocks of block_size bytes), 0 at the end,
 * -EINVAL for a file opened header only.
 */
int bsnap_cow_file_next_run(struct bsnap_cow_file *file, uint64_t *first, uint64_t *count);
/* Starts the runs again from block 0. */
void bsnap_cow_file_rewind(struct bsnap_cow_file *file);

#ifdef __cplusplus
}
#endif

#endif /* LIBBSNAP_H */
