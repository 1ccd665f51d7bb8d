/* check_snapshot.h: snapshot equality, for the tracker and store tests. */
#ifndef CHECK_SNAPSHOT_H
#define CHECK_SNAPSHOT_H

#include "state_tracker.h"

#include <check.h>

/* The record's identity, state and totals are the same (presence and
 * gone_since may differ: a restored domain is re-exported as gone). */
static inline void assert_record_kept(const st_record_t *x,
                                      const st_record_t *y) {
  ck_assert_str_eq(x->uuid, y->uuid);
  ck_assert_str_eq(x->name, y->name);
  ck_assert_int_eq(x->id, y->id);
  ck_assert_int_eq(x->state, y->state);
  ck_assert_int_eq(x->reason, y->reason);
  ck_assert_uint_eq(x->seen_mask, y->seen_mask);
  ck_assert_mem_eq(x->total_ms, y->total_ms, sizeof(x->total_ms));
  ck_assert_uint_eq(x->entered_ms, y->entered_ms);
  ck_assert_uint_eq(x->up_since_ms, y->up_since_ms);
}

static inline void assert_snapshots_equal(const st_snapshot_t *a,
                                          const st_snapshot_t *b) {
  ck_assert_str_eq(a->boot_id, b->boot_id);
  ck_assert_uint_eq(a->saved_ms, b->saved_ms);
  ck_assert_uint_eq(a->count, b->count);
  for (size_t i = 0; i < a->count; i++) {
    const st_record_t *x = &a->records[i], *y = &b->records[i];
    assert_record_kept(x, y);
    ck_assert_int_eq(x->present, y->present);
    ck_assert_uint_eq(x->gone_since_ms, y->gone_since_ms);
  }
}

#endif
