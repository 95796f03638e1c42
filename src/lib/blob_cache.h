/* A directory of small cached results (the monitor's CPUID probe and seccomp programs):
 * each entry is a file named by a hash of its key, holding the whole key and the value, so a
 * hit needs the exact key (a hash collision or a stale entry is a miss, never a wrong value).
 * The directory belongs to the daemon that names it (xenod's STATE/cache, mode 0700); an entry
 * is taken only if it is a regular file (O_NOFOLLOW), owned by this euid, writable by no
 * one else, and exactly as long as its header says. Writes go to a temporary file created
 * with O_EXCL | O_NOFOLLOW and renamed over the entry, so a reader sees the old entry or
 * the new one, never a part. Not thread-safe for one key in one process (no caller needs it);
 * across processes, two writers of one key write the same bytes, the last rename wins. */
#ifndef XENO_LIB_BLOB_CACHE_H
#define XENO_LIB_BLOB_CACHE_H

#include <stddef.h>

#define BLOB_CACHE_MAX (64u * 1024u) /* key + value; larger entries are not cached */

/* Writes into key (at most cap bytes) what every entry's key starts with: this program's
 * build ID (its ELF note), the kernel (uname release, version, machine) and the host CPU
 * (CPUID vendor, signature, brand string). Returns the length, or -ENOENT where the program
 * has no build ID (then nothing is cached: a rebuild could not be told apart). The first call
 * computes it (and notes the euid that entries must belong to) with system calls a sandbox
 * may refuse: make it before entering one, on the main thread; later calls copy it. The
 * reader takes no entry before that first call. */
long blob_cache_host_key(void *key, size_t cap);

/* Copies the value cached under `key` into val (at most val_cap bytes) and returns its
 * length, or -ENOENT for a miss of any kind (no entry, another key, a bad file: the caller
 * computes the value again). Never err_set(): a miss is not an error. */
long blob_cache_get(const char *dir, const char *name, const void *key, size_t key_len, void *val, size_t val_cap);

/* Stores val under key, replacing any entry. 0 or a negative errno (err_set()); the caller
 * may ignore a failure: the cache is an optimisation. */
int blob_cache_put(const char *dir, const char *name, const void *key, size_t key_len, const void *val, size_t val_len);

#endif
