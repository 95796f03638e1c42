#include "ctl/table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void ctl_table_init(struct ctl_table *t, int ncols, const char *const *headers, const enum ctl_align *align)
{
    memset(t, 0, sizeof(*t));
    if (ncols > CTL_TABLE_MAX_COLS)
        ncols = CTL_TABLE_MAX_COLS;
    t->ncols = ncols;
    for (int c = 0; c < ncols; c++) {
        t->header[c] = headers[c];
        t->align[c] = align ? align[c] : CTL_ALIGN_LEFT;
    }
}

char *ctl_sanitize(const char *s)
{
    char *copy = strdup(s ? s : "");
    if (!copy)
        return NULL;
    unsigned char *in = (unsigned char *)copy, *out = in;
    while (*in) {
        if (*in < 0x20 || *in == 0x7f) {
            *out++ = '?';
            in++;
        } else if (in[0] == 0xc2 && in[1] >= 0x80 && in[1] <= 0x9f) {
            /* U+0080..U+009F: C1 controls, which some terminals obey (CSI is U+009B). */
            *out++ = '?';
            in += 2;
        } else {
            *out++ = *in++;
        }
    }
    *out = '\0';
    return copy;
}

size_t ctl_text_width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xc0) != 0x80) /* count lead bytes, skip continuation bytes */
            w++;
    return w;
}

int ctl_table_add(struct ctl_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **grown = realloc(t->cells, cap * (size_t)t->ncols * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        t->cells = grown;
        t->cap = cap;
    }
    char **row = t->cells + t->nrows * (size_t)t->ncols;
    for (int c = 0; c < t->ncols; c++) {
        row[c] = ctl_sanitize(cells[c]);
        if (!row[c]) {
            while (c-- > 0)
                free(row[c]);
            return -ENOMEM;
        }
    }
    t->nrows++;
    return 0;
}

static void print_row(const struct ctl_table *t, const char *const *cells, const size_t *width, FILE *f)
{
    for (int c = 0; c < t->ncols; c++) {
        size_t w = ctl_text_width(cells[c]);
        size_t pad = width[c] > w ? width[c] - w : 0;
        int last = c == t->ncols - 1;
        if (c > 0)
            fputs("  ", f);
        if (t->align[c] == CTL_ALIGN_RIGHT)
            fprintf(f, "%*s", (int)pad, "");
        fputs(cells[c], f);
        if (t->align[c] == CTL_ALIGN_LEFT && !last)
            fprintf(f, "%*s", (int)pad, "");
    }
    fputc('\n', f);
}

void ctl_table_print(const struct ctl_table *t, FILE *f)
{
    size_t width[CTL_TABLE_MAX_COLS];
    for (int c = 0; c < t->ncols; c++) {
        width[c] = ctl_text_width(t->header[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = ctl_text_width(t->cells[r * (size_t)t->ncols + (size_t)c]);
            if (w > width[c])
                width[c] = w;
        }
    }
    print_row(t, t->header, width, f);
    for (size_t r = 0; r < t->nrows; r++)
        print_row(t, (const char *const *)(t->cells + r * (size_t)t->ncols), width, f);
}

void ctl_table_free(struct ctl_table *t)
{
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}
