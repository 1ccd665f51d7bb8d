/* state_store_priv.h: what state_store.c exports for its tests only
 * (tests/check_state_store.c, the fuzzer tests/fuzz/fuzz_state_store.c). */
#ifndef STATE_STORE_PRIV_H
#define STATE_STORE_PRIV_H

#include "state_store.h"

#include <stddef.h>

/* Parses a whole file's bytes. On success 0 and *ret (free with
 * st_snapshot_free). Errors: -EINVAL corrupt or truncated, -EPROTONOSUPPORT
 * a version newer than STATE_STORE_VERSION, -ENOMEM. Never reads past len;
 * buf need not be NUL-terminated. */
int state_store_parse(const char *buf, size_t len, st_snapshot_t **ret);

#endif
