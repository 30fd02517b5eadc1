/* vgshim.so: LD_PRELOAD'ed into gtmd for `bench/speed.py instructions` only. libdispatch's main thread waits in
 * sigsuspend() with a mask in read-only memory (a static const sigset_t); valgrind 3.19 edits the mask in place
 * and dies with an internal SIGSEGV. This sigsuspend passes a writable copy. Nothing else changes. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, (size_t)(_NSIG / 8));
}
