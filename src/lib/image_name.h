/* Disk image names: every image a domain or `xenctl disk` opens is named relative to the
 * operator's image directory. The check is here, below everything, because the names come
 * from sponsors' domain XML (src/lib/domain_xml_disk.c) and from overlay headers
 * (src/blk/image_dir.c): both are hostile, and both must mean the same by "a valid name". */
#ifndef XENO_LIB_IMAGE_NAME_H
#define XENO_LIB_IMAGE_NAME_H

/* The default image directory of xenod, xeno-blkback and `xenctl disk`. */
#define IMAGE_DIR_DEFAULT "/var/lib/xeno/images"

/* Longest image name, in bytes (it is stored in overlay headers: docs/overlay-format.md). */
#define IMAGE_NAME_MAX 192

/* Checks a name: 1..IMAGE_NAME_MAX bytes of printable ASCII without '\\', components
 * separated by single '/', none empty, "." or "..", not starting with '/'. 0 or -EINVAL with
 * a message naming it. */
int image_name_check(const char *name);

#endif
