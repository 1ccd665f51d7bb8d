/* poll_loop.h: a small process-wide poll(2) event loop with the shape of
 * libvirt's event implementation (virEventRegisterImpl): file handles and
 * timeouts, identified by positive ids, with free functions for their
 * opaque data. hypervisor_libvirt.c registers it with libvirt instead of
 * libvirt's default loop so that it can refuse the handle of the polling
 * connection (pl_refuse_handles): a connection whose handle is refused is
 * not watched, and its synchronous calls never wake the loop.
 *
 * Thread-safe: every function may be called from any thread, from the
 * callbacks too. One thread at a time runs pl_run_once (a second one waits
 * for the first's turn to end). Callbacks run on
 * that thread without the loop's lock; a handle or timeout removed is
 * never called again, and its free function runs later, on the loop
 * thread (or in pl_purge), never inside the remove call. No logging;
 * functions return a positive id, 0 or -errno.
 */
#ifndef POLL_LOOP_H
#define POLL_LOOP_H

#include <stdbool.h>

/* Event bits, libvirt's virEventHandleType values. */
enum {
  PL_READABLE = 1 << 0,
  PL_WRITABLE = 1 << 1,
  PL_ERROR = 1 << 2,
  PL_HANGUP = 1 << 3,
};

typedef void (*pl_handle_fn)(int watch, int fd, int events, void *opaque);
typedef void (*pl_timeout_fn)(int timer, void *opaque);
typedef void (*pl_free_fn)(void *opaque);

/* Prepares the loop (its wake-up descriptor); idempotent. 0 or -errno. */
int pl_init(void);

/* While set on the calling thread, pl_add_handle refuses (-EPERM). */
void pl_refuse_handles(bool refuse);

/* A watch on fd for events (PL_* bits; 0: none for now). Positive id or
 * -errno. */
int pl_add_handle(int fd, int events, pl_handle_fn cb, void *opaque,
                  pl_free_fn ff);
void pl_update_handle(int watch, int events);
int pl_remove_handle(int watch);

/* A timeout every ms milliseconds (0: at every turn of the loop; -1:
 * disabled). Positive id or -errno. */
int pl_add_timeout(int ms, pl_timeout_fn cb, void *opaque, pl_free_fn ff);
void pl_update_timeout(int timer, int ms);
int pl_remove_timeout(int timer);

/* One turn: waits (at most max_wait_ms, -1: no bound) for a handle's
 * events, a timeout or a wake-up, then runs the callbacks due and the free
 * functions of what was removed. 0 or -errno. */
int pl_run_once(int max_wait_ms);

/* Makes a pl_run_once in progress return soon. */
void pl_wake(void);

/* Runs the pending free functions (for when no thread runs the loop). */
void pl_purge(void);

#endif
