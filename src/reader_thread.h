/* reader_thread.h: the thread that makes every hypervisor call. A read
 * asks it for a cycle and waits a bounded time; a cycle that hangs (a hung
 * libvirtd) holds this thread, never the caller, and one that finishes
 * late is reported to the next read. At shutdown it is asked
 * to finish; if it does not within the bound it is left behind (detached),
 * and the caller must then not free what it uses.
 *
 * POSIX threads, no collectd, no libvirt, no logging (the caller logs from
 * what rt_cycle reports). One per process, prefix rt_. Times are
 * CLOCK_MONOTONIC ms.
 */
#ifndef READER_THREAD_H
#define READER_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* One read cycle, on the thread: returns the number of domains selected. */
typedef int (*rt_cycle_fn)(void);
/* On the thread, after its last cycle (it may block: nobody waits). */
typedef void (*rt_exit_fn)(void);
/* Creates the thread (pthread_create's contract; the caller may give it
 * context, e.g. collectd's plugin_thread_create). */
typedef int (*rt_spawn_fn)(pthread_t *thread, void *(*start)(void *),
                           void *arg);

void rt_init(rt_cycle_fn cycle, rt_exit_fn on_exit, rt_spawn_fn spawn);

typedef struct {
  bool finished;        /* a cycle finished that no call had reported */
  bool hang_started;    /* first call to find a cycle still running */
  bool hang_ended;      /* finished after a reported hang */
  bool ask_next;        /* the cycle was slow: call rt_ask once its results
                           are used, so that the next one runs meanwhile */
  bool slow_started;    /* the second slow cycle in a row (the first may
                           have been a hang) */
  bool slow_ended;      /* a quick cycle after slow_started */
  uint64_t waited_ms;   /* since the running (or last) cycle was asked for */
  int selected;         /* of the last finished cycle */
  uint64_t duration_ns; /* of the last finished cycle */
} rt_outcome_t;

/* Reports a finished cycle no call has reported yet, if there is one
 * (asking for nothing: its results are the caller's until it asks again).
 * Otherwise asks for a cycle unless one is under way, starting the thread
 * at the first call, and waits for it at most wait_ms. A cycle is slow
 * when it outlasts wait_ms or a call finds it under way. A call finding
 * one under way reports a hang once it has run for wait_ms, and after two
 * slow ones in a row for twice as long as the last. 0, or -errno when the
 * thread cannot be started (nothing asked: the caller reads itself). */
int rt_cycle(uint64_t wait_ms, rt_outcome_t *out);

/* Asks for a cycle without waiting (after a slow one: ask_next), unless
 * one is under way or unreported, or shutdown began. */
void rt_ask(void);

/* Whether shutdown asked the thread to finish (a cycle cuts itself short). */
bool rt_stopping(void);

typedef enum {
  RT_NEVER_STARTED, /* no thread: rt_exit_fn was not called */
  RT_EXITED,        /* joined */
  RT_LEFT_BEHIND,   /* still in a call after timeout_ms: detached */
} rt_stop_t;
rt_stop_t rt_stop(uint64_t timeout_ms);

/* Waits (up to timeout_ms) until no cycle is under way: true if so. */
bool rt_wait_idle(uint64_t timeout_ms);
/* After RT_LEFT_BEHIND: waits for the thread to exit. Returns whether one
 * had been left behind. */
bool rt_reap(void);
/* Back to the state before the first rt_cycle (after a clean stop). */
void rt_reset(void);

uint64_t rt_monotonic_ms(void);

#endif
