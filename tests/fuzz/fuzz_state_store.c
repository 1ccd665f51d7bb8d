/* fuzz_state_store.c: libFuzzer target for the state file parser, and for
 * st_import/_export and at_import/_export (TimeBy totals) of whatever it
 * accepts.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *     tests/fuzz/fuzz_state_store.c src/state_store.c src/state_tracker.c \
 *     src/attr_time.c src/uuid_map.c -o fuzz_state_store
 *   mkdir -p /tmp/corpus
 *   ./fuzz_state_store -max_total_time=60 /tmp/corpus tests/fuzz/corpus
 * (new inputs go to the first directory: keep it out of the tree).
 */
#include "attr_time.h"
#include "state_store.h"
#include "state_store_priv.h"
#include "state_tracker.h"
#include "state_tracker_priv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t no_clock(const char *uuid, void *ud) {
  (void)uuid;
  (void)ud;
  return 0;
}

/* Whatever attr records parse, at_import takes (the parser checks what it
 * requires), and exports again. */
static void check_attrs(const at_records_t *r) {
  static const char *const names[] = {"vcpus", "flavor"};
  at_t *at = at_create(names, 2);
  at_records_t *out = NULL;
  if (at == NULL || at_import(at, r, no_clock, NULL) != 0 ||
      at_export(at, no_clock, NULL, &out) != 0 || out->count != r->count)
    abort();
  at_records_free(out);
  at_destroy(at);
}

static int visit(const st_view_t *v, void *ud) {
  size_t *n = ud;
  *n += v->sum_ms != 0;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  st_snapshot_t *snap = NULL;
  if (state_store_parse((const char *)data, size, &snap) != 0) {
    if (snap != NULL)
      abort(); /* an error must leave *ret alone */
    return 0;
  }

  if (snap->attrs != NULL)
    check_attrs(snap->attrs);

  /* Whatever parses is a valid tracker state. */
  bool same_clock = (size & 1) != 0;
  st_tracker_t *st = st_create();
  if (st == NULL || st_import(st, snap, same_clock, 1000) != 0 ||
      st_count(st) != snap->count)
    abort();

  /* Observe the first domain as saved, and everyone's state changed. */
  if (snap->count > 0) {
    const st_record_t *r = &snap->records[0];
    st_result_t res;
    if (st_poll(st, r->uuid, r->name, r->id, r->state, r->reason,
                snap->saved_ms, &res) != 0 ||
        res.restore == ST_RESTORE_NONE)
      abort();
  }
  for (size_t i = 1; i < snap->count; i += 2) {
    const st_record_t *r = &snap->records[i];
    if (st_event(st, r->uuid, NULL, r->id, (r->state + 1) % ST_STATE_COUNT, 0,
                 snap->saved_ms + 10, NULL) != 0)
      abort();
  }
  size_t n = 0;
  st_foreach(st, snap->saved_ms + 20, visit, &n);

  st_snapshot_t *out = NULL;
  if (st_export(st, snap->boot_id, snap->saved_ms + 30, &out) != 0 ||
      out->count != snap->count)
    abort();
  st_snapshot_free(out);

  st_sweep(st, snap->saved_ms + 40, snap->saved_ms + 50, 5);
  st_destroy(st);
  st_snapshot_free(snap);
  return 0;
}
