#!/bin/bash
# dracut module reloading the root filesystem's bsnap-traced device before
# the root filesystem is mounted (RHEL family; tested with Debian's dracut
# 059, with and without systemd in the initramfs: tests/daemon/rootfs-dracut).
# Installed as /usr/lib/dracut/modules.d/90bsnap/.

check() {
    # In every image, as the initramfs-tools hook is: a root traced after
    # the image was built must still be reloaded at the next boot. Without
    # a state file naming a root device the hook does nothing.
    require_binaries /usr/sbin/bsnapd blkid || return 1
    return 0
}

depends() {
    # The hook reads root= as rootfs-block's cmdline hook leaves it.
    echo rootfs-block
    return 0
}

installkernel() {
    # Not filtered by hostonly: bsnap is not loaded while the image is built
    # when root was last traced on another boot (hostonly keeps only loaded
    # modules). Optional: without a bsnap.ko for this kernel (DKMS not run
    # yet) the image is still built, and says so.
    hostonly='' instmods bsnap
    # shellcheck disable=SC2154 # dracut sets initdir and kernel
    if [[ -z $(find "$initdir/lib/modules/$kernel" "$initdir/usr/lib/modules/$kernel" \
        -name 'bsnap.ko*' -print -quit 2>/dev/null) ]]; then
        dwarn "bsnap: no bsnap.ko for $kernel: the root filesystem's device will not be reloaded by this image"
    fi
}

install() {
    # bsnapd's shared libraries come with it (dracut-install resolves them).
    inst_multiple /usr/sbin/bsnapd blkid grep cp mount umount mkdir
    # shellcheck disable=SC2154 # dracut sets moddir
    inst_hook pre-mount 90 "$moddir/bsnap-reload-root.sh"
    # With systemd in the initramfs, dracut-pre-mount.service is ordered
    # after dracut-initqueue.service only, which runs only when an image
    # needs it: then the initqueue waits for the root device (rootfs-block's
    # wait_for_dev) before the hook runs, as /init does without systemd.
    dracut_need_initqueue
}
