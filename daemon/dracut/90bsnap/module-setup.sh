#!/bin/bash
# dracut module (RHEL family) reloading the root filesystem's bsnap-traced
# device before the root filesystem is mounted. A SKELETON: written from
# dracut.modules(7), not yet run on a RHEL-family system.
# Installed as /usr/lib/dracut/modules.d/90bsnap/.

check() {
    # Only when the root filesystem is traced.
    grep -qs '"root": true' /var/lib/bsnap/state.json || return 255
    return 0
}

depends() {
    return 0
}

installkernel() {
    instmods bsnap
}

install() {
    inst_multiple /usr/sbin/bsnapd blkid
    # shellcheck disable=SC2154 # dracut sets $moddir
    inst_hook pre-mount 90 "$moddir/bsnap-reload-root.sh"
}
