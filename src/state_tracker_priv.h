/* state_tracker_priv.h: what state_tracker.c exports for tests only. */
#ifndef STATE_TRACKER_PRIV_H
#define STATE_TRACKER_PRIV_H

#include "state_tracker.h"

#include <stddef.h>

/* Number of domains held (present, gone or restored-pending). */
size_t st_count(const st_tracker_t *st);

#endif
