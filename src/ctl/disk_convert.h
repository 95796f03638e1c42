/* `xenctl disk convert SRC.qcow2 NAME`: a qcow2 file imported as raw image NAME of the image
 * directory, by qemu-img, run without a shell. */
#ifndef XENO_CTL_DISK_CONVERT_H
#define XENO_CTL_DISK_CONVERT_H

/* Checks SRC with `qemu-img info` (qcow2, no backing file, no external data file: a qcow2
 * can name any file of this host as its backing, and the import would copy it), creates NAME
 * beneath the directory dirfd (path dir) and has `qemu-img convert` write into that open
 * file. On failure NAME is removed. 0 or -errno with a message. */
int ctl_disk_convert(int dirfd, const char *dir, const char *src, const char *name);

#endif
