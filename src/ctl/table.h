/* Column-aligned text tables for the listing commands (`list`, `events`), `xl list` style:
 * a header row, columns padded to their widest cell, numbers right-aligned. */
#ifndef XENO_CTL_TABLE_H
#define XENO_CTL_TABLE_H

#include <stdio.h>

#define CTL_TABLE_MAX_COLS 12

enum ctl_align { CTL_ALIGN_LEFT, CTL_ALIGN_RIGHT };

struct ctl_table {
    int ncols;
    const char *header[CTL_TABLE_MAX_COLS];
    enum ctl_align align[CTL_TABLE_MAX_COLS];
    char **cells; /* nrows * ncols copies, row-major */
    size_t nrows, cap;
};

/* `headers` and `align` have `ncols` entries (at most CTL_TABLE_MAX_COLS); headers are not copied. */
void ctl_table_init(struct ctl_table *t, int ncols, const char *const *headers, const enum ctl_align *align);
/* Appends a row of ncols cells (NULL reads as ""). Cells are copied with control
 * characters replaced by '?', so a hostile name cannot break the layout or drive the
 * terminal. Returns 0 or -ENOMEM. */
int ctl_table_add(struct ctl_table *t, const char *const *cells);
/* Writes the header and rows; columns are separated by two spaces and the last column
 * carries no trailing padding. */
void ctl_table_print(const struct ctl_table *t, FILE *f);
void ctl_table_free(struct ctl_table *t);

/* Copies `s` (NULL reads as "") with control characters (C0, DEL, C1) replaced by '?'; newly
 * allocated, or NULL when out of memory. */
char *ctl_sanitize(const char *s);
/* Display width of UTF-8 text: code points, not bytes (no wide-character tables). */
size_t ctl_text_width(const char *s);

#endif
