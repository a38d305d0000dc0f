// SPDX-License-Identifier: GPL-2.0
/*
 * The control device /dev/bsnap-ctl. Only CAP_SYS_ADMIN may open it or issue
 * ioctls (an fd handed to an unprivileged process is refused too).
 *
 * Arguments are size-versioned structs (see include/uapi/bsnap.h): commands
 * are matched on type and number only, and the struct is copied with
 * copy_struct_from_user() so older and newer callers both work.
 */
#include "log.h"

#include <linux/capability.h>
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <uapi/bsnap.h>

#include "ctl_dev.h"
#include "snapshot_group.h"
#include "tracer.h"
#include "version.h"

/* Larger structs than this are refused before their tail is scanned. */
#define BSNAP_ARG_MAX_SIZE (64 * 1024)

/*
 * Copy an ioctl argument whose first field is its __u32 size. @min_size is
 * the smallest struct this module accepts for the command.
 */
static int arg_copy_in(void *karg, size_t ksize, size_t min_size,
		       void __user *uarg, u32 *usize)
{
	if (get_user(*usize, (u32 __user *)uarg))
		return -EFAULT;
	if (*usize < min_size)
		return -EINVAL;
	if (*usize > BSNAP_ARG_MAX_SIZE)
		return -E2BIG;
	return copy_struct_from_user(karg, ksize, uarg, *usize);
}

/* Copy back the part of the struct the caller knows about. */
static int arg_copy_out(void __user *uarg, void *karg, size_t ksize, u32 usize)
{
	u32 n = min_t(u32, usize, ksize);

	*(u32 *)karg = n;
	return copy_to_user(uarg, karg, n) ? -EFAULT : 0;
}

static long ioctl_version(void __user *uarg)
{
	struct bsnap_version v;
	u32 usize;
	int ret;

	ret = arg_copy_in(&v, sizeof(v), sizeof(v), uarg, &usize);
	if (ret)
		return ret;
	memset(&v, 0, sizeof(v));
	v.abi_version = BSNAP_ABI_VERSION;
	strscpy(v.version, BSNAP_VERSION, sizeof(v.version));
	return arg_copy_out(uarg, &v, sizeof(v), usize);
}

/* Copy a user path; -ENAMETOOLONG if it does not fit BSNAP_PATH_MAX. */
static char *path_from_user(u64 uptr)
{
	char *path;
	long len;

	if (!uptr)
		return ERR_PTR(-EINVAL);
	path = kmalloc(BSNAP_PATH_MAX, GFP_KERNEL);
	if (!path)
		return ERR_PTR(-ENOMEM);
	len = strncpy_from_user(path, u64_to_user_ptr(uptr), BSNAP_PATH_MAX);
	if (len < 0 || len == BSNAP_PATH_MAX || len == 0) {
		kfree(path);
		return ERR_PTR(len < 0 ? len : len ? -ENAMETOOLONG : -EINVAL);
	}
	return path;
}

enum setup_kind { SETUP_SNAPSHOT, RELOAD_SNAPSHOT, RELOAD_INCREMENTAL };

/* setup-snapshot and reload-*: same argument, see uapi/bsnap.h. */
static long ioctl_setup(void __user *uarg, enum setup_kind kind)
{
	char *bdev_path = NULL, *cow_path = NULL;
	struct bsnap_setup s;
	u32 usize;
	long ret;

	ret = arg_copy_in(&s, sizeof(s), sizeof(s), uarg, &usize);
	if (ret)
		return ret;
	if (s.reserved)
		return -EINVAL;
	bdev_path = path_from_user(s.bdev_path);
	if (IS_ERR(bdev_path))
		return PTR_ERR(bdev_path);
	cow_path = path_from_user(s.cow_path);
	if (IS_ERR(cow_path)) {
		ret = PTR_ERR(cow_path);
		goto out;
	}
	mutex_lock(&bsnap_ctl_mutex);
	if (kind == SETUP_SNAPSHOT)
		ret = tracer_setup_snapshot(&s, bdev_path, cow_path);
	else
		ret = tracer_reload(&s, bdev_path, cow_path,
				    kind == RELOAD_SNAPSHOT);
	mutex_unlock(&bsnap_ctl_mutex);
	kfree(cow_path);
out:
	kfree(bdev_path);
	return ret;
}

/* Commands whose only argument is a minor: destroy, transition to incremental. */
static long ioctl_minor_op(void __user *uarg, int (*op)(unsigned int minor))
{
	struct bsnap_minor_arg m;
	u32 usize;
	long ret;

	ret = arg_copy_in(&m, sizeof(m), sizeof(m), uarg, &usize);
	if (ret)
		return ret;
	mutex_lock(&bsnap_ctl_mutex);
	ret = op(m.minor);
	mutex_unlock(&bsnap_ctl_mutex);
	return ret;
}

static long ioctl_transition_snapshot(void __user *uarg)
{
	struct bsnap_transition_snapshot ts;
	char *cow_path;
	u32 usize;
	long ret;

	ret = arg_copy_in(&ts, sizeof(ts), sizeof(ts), uarg, &usize);
	if (ret)
		return ret;
	cow_path = path_from_user(ts.cow_path);
	if (IS_ERR(cow_path))
		return PTR_ERR(cow_path);
	mutex_lock(&bsnap_ctl_mutex);
	ret = tracer_transition_snapshot(&ts, cow_path);
	mutex_unlock(&bsnap_ctl_mutex);
	kfree(cow_path);
	return ret;
}

/* The group's members and their paths, copied in. */
struct group_args {
	struct bsnap_group_member *mb;
	char **bdev_paths;
	char **cow_paths;
	unsigned int n;
};

static void group_args_free(struct group_args *ga)
{
	unsigned int i;

	for (i = 0; ga->bdev_paths && ga->cow_paths && i < ga->n; i++) {
		if (!IS_ERR_OR_NULL(ga->bdev_paths[i]))
			kfree(ga->bdev_paths[i]);
		if (!IS_ERR_OR_NULL(ga->cow_paths[i]))
			kfree(ga->cow_paths[i]);
	}
	kfree(ga->bdev_paths);
	kfree(ga->cow_paths);
	kfree(ga->mb);
}

static int group_args_copy(struct group_args *ga,
			   const struct bsnap_group_snapshot *g)
{
	void __user *um = u64_to_user_ptr(g->members);
	unsigned int i;
	int ret;

	ga->n = g->nr_members;
	ga->mb = kcalloc(ga->n, sizeof(*ga->mb), GFP_KERNEL);
	ga->bdev_paths = kcalloc(ga->n, sizeof(char *), GFP_KERNEL);
	ga->cow_paths = kcalloc(ga->n, sizeof(char *), GFP_KERNEL);
	if (!ga->mb || !ga->bdev_paths || !ga->cow_paths)
		return -ENOMEM;
	for (i = 0; i < ga->n; i++) {
		struct bsnap_group_member *mb = &ga->mb[i];

		ret = copy_struct_from_user(mb, sizeof(*mb),
					    um + (size_t)i * g->member_size,
					    g->member_size);
		if (ret)
			return ret;
		if (mb->error)
			return -EINVAL;
		if (mb->bdev_path) {
			ga->bdev_paths[i] = path_from_user(mb->bdev_path);
			if (IS_ERR(ga->bdev_paths[i]))
				return PTR_ERR(ga->bdev_paths[i]);
		}
		ga->cow_paths[i] = path_from_user(mb->cow_path);
		if (IS_ERR(ga->cow_paths[i]))
			return PTR_ERR(ga->cow_paths[i]);
	}
	return 0;
}

/* Several snapshots at one instant, see uapi/bsnap.h. */
static long ioctl_snapshot_group(void __user *uarg)
{
	struct group_args ga = { 0 };
	struct bsnap_group_snapshot g;
	void __user *um;
	unsigned int i;
	u32 usize;
	long ret;

	ret = arg_copy_in(&g, sizeof(g), sizeof(g), uarg, &usize);
	if (ret)
		return ret;
	if (!g.nr_members || g.nr_members > BSNAP_MAX_GROUP ||
	    g.member_size < sizeof(struct bsnap_group_member) ||
	    g.member_size > PAGE_SIZE || g.failed)
		return -EINVAL;
	ret = group_args_copy(&ga, &g);
	if (ret)
		goto out;
	g.failed = g.nr_members;
	mutex_lock(&bsnap_ctl_mutex);
	ret = snapshot_group(ga.mb, ga.bdev_paths, ga.cow_paths, ga.n,
			     &g.failed);
	mutex_unlock(&bsnap_ctl_mutex);
	um = u64_to_user_ptr(g.members);
	for (i = 0; i < ga.n; i++) {
		if (ga.mb[i].error &&
		    put_user(ga.mb[i].error,
			     (s32 __user *)(um + (size_t)i * g.member_size +
					    offsetof(struct bsnap_group_member,
						     error))))
			ret = -EFAULT;
	}
	if (arg_copy_out(uarg, &g, sizeof(g), usize))
		ret = -EFAULT;
out:
	group_args_free(&ga);
	return ret;
}

static long ioctl_reconfigure(void __user *uarg)
{
	struct bsnap_reconfigure rc;
	u32 usize;
	long ret;

	ret = arg_copy_in(&rc, sizeof(rc), sizeof(rc), uarg, &usize);
	if (ret)
		return ret;
	mutex_lock(&bsnap_ctl_mutex);
	ret = tracer_reconfigure(&rc);
	mutex_unlock(&bsnap_ctl_mutex);
	return ret;
}

static long ioctl_expand_cow(void __user *uarg)
{
	struct bsnap_expand_cow ec;
	u32 usize;
	long ret;

	ret = arg_copy_in(&ec, sizeof(ec), sizeof(ec), uarg, &usize);
	if (ret)
		return ret;
	mutex_lock(&bsnap_ctl_mutex);
	ret = tracer_expand_cow(&ec);
	mutex_unlock(&bsnap_ctl_mutex);
	if (!ret)
		ret = arg_copy_out(uarg, &ec, sizeof(ec), usize);
	return ret;
}

static long ioctl_cow_usable(void __user *uarg)
{
	struct bsnap_cow_usable cu;
	u32 usize;
	long ret;

	ret = arg_copy_in(&cu, sizeof(cu), sizeof(cu), uarg, &usize);
	if (ret)
		return ret;
	mutex_lock(&bsnap_ctl_mutex);
	ret = tracer_cow_usable(&cu);
	mutex_unlock(&bsnap_ctl_mutex);
	if (!ret)
		ret = arg_copy_out(uarg, &cu, sizeof(cu), usize);
	return ret;
}

static long ioctl_info(void __user *uarg)
{
	struct bsnap_info *info;
	u32 usize;
	long ret;

	info = kzalloc(sizeof(*info), GFP_KERNEL);
	if (!info)
		return -ENOMEM;
	ret = arg_copy_in(info, sizeof(*info),
			  offsetof(struct bsnap_info, bdev_path), uarg, &usize);
	if (ret)
		goto out;
	mutex_lock(&bsnap_ctl_mutex);
	ret = tracer_fill_info(info->minor, info);
	mutex_unlock(&bsnap_ctl_mutex);
	if (!ret)
		ret = arg_copy_out(uarg, info, sizeof(*info), usize);
out:
	kfree(info);
	return ret;
}

static long ioctl_get_free_minor(void __user *uarg)
{
	struct bsnap_minor_arg m;
	unsigned int minor;
	u32 usize;
	long ret;

	ret = arg_copy_in(&m, sizeof(m), sizeof(m), uarg, &usize);
	if (ret)
		return ret;
	mutex_lock(&bsnap_ctl_mutex);
	ret = tracer_free_minor(&minor);
	mutex_unlock(&bsnap_ctl_mutex);
	if (ret)
		return ret;
	m.minor = minor;
	return arg_copy_out(uarg, &m, sizeof(m), usize);
}

static long ctl_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (_IOC_TYPE(cmd) != BSNAP_IOCTL_MAGIC)
		return -ENOTTY;

	switch (_IOC_NR(cmd)) {
	case _IOC_NR(BSNAP_IOC_VERSION):
		return ioctl_version(uarg);
	case _IOC_NR(BSNAP_IOC_SETUP_SNAPSHOT):
		return ioctl_setup(uarg, SETUP_SNAPSHOT);
	case _IOC_NR(BSNAP_IOC_RELOAD_SNAPSHOT):
		return ioctl_setup(uarg, RELOAD_SNAPSHOT);
	case _IOC_NR(BSNAP_IOC_RELOAD_INCREMENTAL):
		return ioctl_setup(uarg, RELOAD_INCREMENTAL);
	case _IOC_NR(BSNAP_IOC_DESTROY):
		return ioctl_minor_op(uarg, tracer_destroy);
	case _IOC_NR(BSNAP_IOC_TRANSITION_INCREMENTAL):
		return ioctl_minor_op(uarg, tracer_transition_incremental);
	case _IOC_NR(BSNAP_IOC_TRANSITION_SNAPSHOT):
		return ioctl_transition_snapshot(uarg);
	case _IOC_NR(BSNAP_IOC_RECONFIGURE):
		return ioctl_reconfigure(uarg);
	case _IOC_NR(BSNAP_IOC_INFO):
		return ioctl_info(uarg);
	case _IOC_NR(BSNAP_IOC_GET_FREE_MINOR):
		return ioctl_get_free_minor(uarg);
	case _IOC_NR(BSNAP_IOC_EXPAND_COW):
		return ioctl_expand_cow(uarg);
	case _IOC_NR(BSNAP_IOC_COW_USABLE):
		return ioctl_cow_usable(uarg);
	case _IOC_NR(BSNAP_IOC_SNAPSHOT_GROUP):
		return ioctl_snapshot_group(uarg);
	default:
		return -ENOTTY;
	}
}

static int ctl_open(struct inode *inode, struct file *file)
{
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	return 0;
}

static const struct file_operations ctl_fops = {
	.owner = THIS_MODULE,
	.open = ctl_open,
	.unlocked_ioctl = ctl_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice ctl_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = BSNAP_CTL_NAME,
	.fops = &ctl_fops,
	.mode = 0600,
};

int bsnap_ctl_init(void)
{
	int ret = misc_register(&ctl_misc);

	if (ret)
		pr_err("cannot register /dev/%s: %d\n", BSNAP_CTL_NAME, ret);
	return ret;
}

struct device *bsnap_ctl_device(void)
{
	return ctl_misc.this_device;
}

void bsnap_ctl_exit(void)
{
	misc_deregister(&ctl_misc);
}
