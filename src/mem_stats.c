/* mem_stats.c: see mem_stats.h. */
#include "mem_stats.h"

#include <string.h>

/* Sizes reported in KiB; the others are counts or times. */
static const bool tag_is_kib[MS_TAG_COUNT] = {
    [MS_SWAP_IN] = true,   [MS_SWAP_OUT] = true,    [MS_UNUSED] = true,
    [MS_AVAILABLE] = true, [MS_ACTUAL] = true,      [MS_RSS] = true,
    [MS_USABLE] = true,    [MS_DISK_CACHES] = true,
};

static const struct {
  const char *field;
  ms_tag_t tag;
} bulk_fields[] = {
    {"balloon.swap_in", MS_SWAP_IN},
    {"balloon.swap_out", MS_SWAP_OUT},
    {"balloon.major_fault", MS_MAJOR_FAULT},
    {"balloon.minor_fault", MS_MINOR_FAULT},
    {"balloon.unused", MS_UNUSED},
    {"balloon.available", MS_AVAILABLE},
    {"balloon.current", MS_ACTUAL},
    {"balloon.rss", MS_RSS},
    {"balloon.usable", MS_USABLE},
    {"balloon.last-update", MS_LAST_UPDATE},
    {"balloon.disk_caches", MS_DISK_CACHES},
};

int ms_tag_from_field(const char *field) {
  if (field == NULL)
    return -1;
  for (size_t i = 0; i < sizeof(bulk_fields) / sizeof(bulk_fields[0]); i++)
    if (strcmp(field, bulk_fields[i].field) == 0)
      return (int)bulk_fields[i].tag;
  return -1;
}

/* Largest KiB value whose byte value fits in a uint64_t. */
#define KIB_MAX (UINT64_MAX / 1024)

/* Figures the guest reports (through its balloon driver), as opposed to
 * what the host knows (actual balloon size, rss). */
static const uint32_t guest_tags =
    (1u << MS_SWAP_IN) | (1u << MS_SWAP_OUT) | (1u << MS_MAJOR_FAULT) |
    (1u << MS_MINOR_FAULT) | (1u << MS_UNUSED) | (1u << MS_AVAILABLE) |
    (1u << MS_USABLE) | (1u << MS_LAST_UPDATE) | (1u << MS_DISK_CACHES);

void ms_compute(const ms_raw_t *raw, ms_formula_t formula, ms_guest_t guest,
                ms_figures_t *ret) {
  memset(ret, 0, sizeof(*ret));
  bool overflow = false;

  for (int tag = 0; tag < MS_TAG_COUNT; tag++) {
    if (!ms_raw_has(raw, tag))
      continue;
    uint64_t v = raw->value[tag];
    if (tag_is_kib[tag]) {
      if (v > KIB_MAX) {
        overflow = true;
        continue;
      }
      v *= 1024;
    }
    ret->present |= 1u << tag;
    ret->bytes[tag] = v;
  }

  if (raw->present == 0) {
    ret->used_status = MS_USED_NO_STATS;
    return;
  }
  if (guest != MS_GUEST_LIVE) {
    ret->present &= ~guest_tags;
    ret->used_status = guest == MS_GUEST_STALE       ? MS_USED_STALE
                       : guest == MS_GUEST_NO_PERIOD ? MS_USED_NO_PERIOD
                                                     : MS_USED_NO_BALLOON;
    return;
  }
  if (overflow) {
    ret->used_status = MS_USED_OVERFLOW;
    return;
  }
  if (!ms_raw_has(raw, MS_AVAILABLE)) {
    ret->used_status = MS_USED_NO_AVAILABLE;
    return;
  }

  ms_tag_t sub = MS_UNUSED;
  if (formula == MS_USED_USABLE) {
    if (ms_raw_has(raw, MS_USABLE))
      sub = MS_USABLE;
    else
      ret->used_fell_back = true;
  }
  if (!ms_raw_has(raw, sub)) {
    ret->used_status = MS_USED_NO_SUBTRAHEND;
    return;
  }

  uint64_t available = ret->bytes[MS_AVAILABLE];
  uint64_t subtrahend = ret->bytes[sub];
  if (subtrahend > available) {
    ret->used_status = MS_USED_SUBTRAHEND_LARGER;
    return;
  }
  if (available == 0) { /* 0 - 0 of nothing: no meaningful percent */
    ret->used_status = MS_USED_NO_AVAILABLE;
    return;
  }

  ret->used_status = MS_USED_OK;
  ret->used = available - subtrahend;
  ret->percent = (double)ret->used * 100.0 / (double)available;
}

const char *ms_used_status_text(ms_used_status_t status) {
  switch (status) {
  case MS_USED_OK:
    return "ok";
  case MS_USED_NO_STATS:
    return "no memory statistics reported (no balloon device?)";
  case MS_USED_NO_AVAILABLE:
    return "no 'available' statistic (guest balloon driver not loaded or stats period 0)";
  case MS_USED_NO_SUBTRAHEND:
    return "no 'unused'/'usable' statistic";
  case MS_USED_SUBTRAHEND_LARGER:
    return "'unused'/'usable' larger than 'available'";
  case MS_USED_STALE:
    return "guest statistics are stale (last_update does not advance); guest-reported figures withheld";
  case MS_USED_OVERFLOW:
    return "a size too large to be true";
  case MS_USED_NO_BALLOON:
    return "no balloon device: the guest reports no memory statistics";
  case MS_USED_NO_PERIOD:
    return "balloon stats period is 0: QEMU repeats the guest's boot-time sample (set <stats period='N'/> or MemoryStatsPeriod)";
  }
  return "unknown";
}

bool ms_staleness_judge(ms_staleness_t *s, const ms_raw_t *raw, bool running,
                        unsigned period_s, uint64_t interval_ms,
                        uint64_t now_ms) {
  if (!running || !ms_raw_has(raw, MS_LAST_UPDATE)) {
    s->have = false;
    return false;
  }
  uint64_t lu = raw->value[MS_LAST_UPDATE];
  if (!s->have || lu != s->last_update) {
    s->have = true;
    s->last_update = lu;
    s->changed_ms = now_ms;
    return false;
  }
  if (period_s == 0)
    return false;
  uint64_t limit_ms = 3 * (uint64_t)period_s * 1000;
  if (3 * interval_ms > limit_ms)
    limit_ms = 3 * interval_ms;
  return now_ms > s->changed_ms && now_ms - s->changed_ms > limit_ms;
}
