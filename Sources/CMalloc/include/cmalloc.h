#ifndef GTMD_CMALLOC_H
#define GTMD_CMALLOC_H

/*
 * Memory handed back to the system: the C library's allocator, for what Swift's Glibc module does not expose
 * (malloc.h), and the pages of the loaded code.
 */

#ifdef __cplusplus
extern "C" {
#endif

/* Hands the free memory inside the allocator's arenas back to the system (glibc: malloc_trim(0), which also
 * releases whole free pages in the middle of an arena). Returns 1 when memory was released, 0 when none was
 * or the C library has no such call. */
int gtmd_release_free_memory(void);

/* Drops this process's mappings of the pages of its executable and shared libraries that are read-only and
 * unmodified (code and constant data; MADV_DONTNEED, Linux): what start-up or a reload ran once stops counting
 * as resident. The page cache keeps the pages, and one that runs again is mapped back by a minor fault. Pages
 * copied on write (the relocated RELRO part) and writable mappings are left alone. Returns the bytes of address
 * space released, -1 when /proc/self/smaps cannot be read, 0 elsewhere than Linux. */
long gtmd_release_loaded_pages(void);

#ifdef __cplusplus
}
#endif

#endif
