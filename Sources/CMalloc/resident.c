#define _GNU_SOURCE
#include "cmalloc.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* One mapping of /proc/self/smaps, as far as the choice below needs it. */
struct mapping {
    unsigned long start, end;
    char perms[5];
    char path[256];
    unsigned long anonymous_kb;
};

enum { MAX_MAPPINGS = 512 };

/* Whether `path` is an object with executable code: the executable or a shared library. */
static int has_code(const struct mapping *m, int n, const char *path) {
    for (int i = 0; i < n; i++) {
        if (m[i].perms[2] == 'x' && strcmp(m[i].path, path) == 0) return 1;
    }
    return 0;
}

long gtmd_release_loaded_pages(void) {
#if defined(__linux__) && defined(MADV_DONTNEED)
    struct mapping *maps = malloc(MAX_MAPPINGS * sizeof *maps);
    if (maps == NULL) return -1;
    int n = 0;
    FILE *f = fopen("/proc/self/smaps", "re");
    if (f == NULL) {
        free(maps);
        return -1;
    }
    char line[512];
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long a, b, kb;
        char perms[5];
        int path_at = 0;
        if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &a, &b, perms, &path_at) >= 3 && path_at > 0) {
            if (n == MAX_MAPPINGS) break;
            struct mapping *m = &maps[n++];
            m->start = a;
            m->end = b;
            memcpy(m->perms, perms, sizeof m->perms);
            snprintf(m->path, sizeof m->path, "%s", line + path_at);
            m->path[strcspn(m->path, "\n")] = 0;
            m->anonymous_kb = ULONG_MAX; /* not read: the mapping is left alone */
        } else if (n > 0 && sscanf(line, "Anonymous: %lu kB", &kb) == 1) {
            maps[n - 1].anonymous_kb = kb;
        }
    }
    fclose(f);
    long released = 0;
    for (int i = 0; i < n; i++) {
        const struct mapping *m = &maps[i];
        /* Private, not writable, a file's pages only (none copied on write: the relocated RELRO part is read-only
         * now but holds private copies, which MADV_DONTNEED would throw away), of an object with code. */
        if (m->perms[1] != '-' || m->perms[3] != 'p' || m->path[0] != '/' || m->anonymous_kb != 0) continue;
        if (!has_code(maps, n, m->path)) continue;
        /* Mappings are whole pages. */
        if (madvise((void *)m->start, m->end - m->start, MADV_DONTNEED) == 0) released += (long)(m->end - m->start);
    }
    free(maps);
    return released;
#else
    return 0;
#endif
}
