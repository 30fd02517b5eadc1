#ifndef GTMD_CMALLOC_H
#define GTMD_CMALLOC_H

/*
 * The C library's allocator, for what Swift's Glibc module does not expose (malloc.h).
 */

#ifdef __cplusplus
extern "C" {
#endif

/* Hands the free memory inside the allocator's arenas back to the system (glibc: malloc_trim(0), which also
 * releases whole free pages in the middle of an arena). Returns 1 when memory was released, 0 when none was
 * or the C library has no such call. */
int gtmd_release_free_memory(void);

#ifdef __cplusplus
}
#endif

#endif
