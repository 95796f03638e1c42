/* image_io: reads and writes a disk image through src/blk/image.h, as xeno-blkback will, for
 * tests/integration/disk.sh.
 *   image_io DIR NAME fill OFFSET LENGTH BYTE   writes LENGTH bytes of BYTE, then flushes
 *   image_io DIR NAME dump OFFSET LENGTH        copies the bytes to stdout
 * Exit 0, or 1 with the library's message on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk/image.h"
#include "lib/err.h"

int main(int argc, char **argv)
{
    if (argc < 6 || (strcmp(argv[3], "fill") == 0 && argc != 7) || (strcmp(argv[3], "dump") == 0 && argc != 6)) {
        fprintf(stderr, "usage: image_io DIR NAME fill OFFSET LENGTH BYTE | dump OFFSET LENGTH\n");
        return 2;
    }
    uint64_t off = strtoull(argv[4], NULL, 0), len = strtoull(argv[5], NULL, 0);
    bool fill = strcmp(argv[3], "fill") == 0;
    int dirfd = image_dir_open(argv[1]);
    struct image *img = NULL;
    uint8_t *buf = len <= (64u << 20) ? malloc(len ? len : 1) : NULL;
    int rc = dirfd < 0 ? dirfd : buf ? image_open(dirfd, argv[1], argv[2], !fill, &img) : -1;
    if (rc == 0 && fill) {
        memset(buf, (int)strtoul(argv[6], NULL, 0), len);
        rc = image_pwrite(img, buf, len, off);
        if (rc == 0)
            rc = image_flush(img);
    } else if (rc == 0) {
        rc = image_pread(img, buf, len, off);
        if (rc == 0 && fwrite(buf, 1, len, stdout) != len)
            rc = err_set(5, "stdout: short write");
    }
    if (image_close(img) < 0 && rc == 0)
        rc = -1;
    free(buf);
    if (rc < 0) {
        fprintf(stderr, "image_io: %s\n", err_msg());
        return 1;
    }
    return 0;
}
