/* notify_queue.h: a FIFO of domain-state transitions and the thread that
 * hands them, one at a time and in order, to a dispatch function: a slow
 * consumer (a collectd notification plugin) must hold up neither the
 * thread that saw the transition (and so the time stamp of the next one)
 * nor a read.
 *
 * Plain C11 + POSIX threads: no collectd, no libvirt, no logging. Bounded
 * (NQ_MAX items): beyond that, pushes are refused until it drains. One
 * queue per process (the plugin has one), prefix nq_.
 */
#ifndef NOTIFY_QUEUE_H
#define NOTIFY_QUEUE_H

#include "state_tracker.h"

#include <stdbool.h>
#include <stdint.h>

#define NQ_MAX 4096

/* Called on the queue's thread for each item; name and uuid are valid for
 * the call only. when: the time the pusher gave. */
typedef void (*nq_dispatch_fn)(const char *name, const char *uuid,
                               const st_result_t *r, uint64_t when);

/* Starts the thread. 0, or -errno (no thread: the caller dispatches
 * itself). */
int nq_start(nq_dispatch_fn dispatch);
/* Whether the thread runs. */
bool nq_running(void);
/* Queues one transition. 0; -ENOMEM; -ENOBUFS when NQ_MAX wait (*first:
 * the first refusal since the queue last accepted one). */
int nq_push(const char *name, const char *uuid, const st_result_t *r,
            uint64_t when, bool *first);
/* Waits until everything queued has been dispatched. */
void nq_flush(void);
/* Dispatches what is queued, then ends the thread. */
void nq_stop(void);

#endif
