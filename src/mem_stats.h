/* mem_stats.h: libvirt balloon statistics -> guest memory figures.
 *
 * Pure C11: no libvirt, no collectd, no clock reads, no logging. The hypervisor
 * implementation fills an ms_raw_t with what the hypervisor reported (tags it
 * does not know are never stored), ms_compute turns it into the figures the
 * plugin dispatches, and ms_staleness judges whether the guest is still
 * updating its statistics. Every figure carries a presence bit: what was not
 * reported is not invented, and memory-used is computed only when it can be
 * right.
 */
#ifndef MEM_STATS_H
#define MEM_STATS_H

#include <stdbool.h>
#include <stdint.h>

/* The balloon statistics this plugin uses. Sizes are KiB, faults counts,
 * last_update seconds (host clock, as QEMU reports it). */
typedef enum {
  MS_SWAP_IN = 0,
  MS_SWAP_OUT,
  MS_MAJOR_FAULT,
  MS_MINOR_FAULT,
  MS_UNUSED,
  MS_AVAILABLE,
  MS_ACTUAL,
  MS_RSS,
  MS_USABLE,
  MS_LAST_UPDATE,
  MS_DISK_CACHES,
  MS_TAG_COUNT
} ms_tag_t;

typedef struct {
  uint32_t present; /* bit (1u << tag) */
  uint64_t value[MS_TAG_COUNT];
} ms_raw_t;

static inline void ms_raw_set(ms_raw_t *raw, ms_tag_t tag, uint64_t value) {
  raw->present |= 1u << tag;
  raw->value[tag] = value;
}

static inline bool ms_raw_has(const ms_raw_t *raw, ms_tag_t tag) {
  return (raw->present >> tag) & 1u;
}

/* A bulk-stats field name ("balloon.unused", "balloon.current", ...) to its
 * tag; -1 for a field this plugin does not use (balloon.maximum, tags newer
 * libvirt adds). */
int ms_tag_from_field(const char *field);

/* How memory-used is derived. */
typedef enum {
  MS_USED_UNUSED = 0, /* available - unused (Ceilometer blueprint) */
  MS_USED_USABLE,     /* available - usable, falling back to unused */
} ms_formula_t;

/* Why memory-used is (not) there. */
typedef enum {
  MS_USED_OK = 0,
  MS_USED_NO_STATS,          /* nothing reported at all */
  MS_USED_NO_AVAILABLE,      /* no 'available': no balloon driver/period */
  MS_USED_NO_SUBTRAHEND,     /* 'available' but no unused/usable */
  MS_USED_SUBTRAHEND_LARGER, /* unused/usable > available */
  MS_USED_STALE,             /* the guest stopped updating its stats */
  MS_USED_OVERFLOW,          /* a size too large to be true */
  MS_USED_NO_BALLOON,        /* no balloon device: no guest statistics */
  MS_USED_NO_PERIOD,         /* stats period 0: a frozen boot-time sample */
} ms_used_status_t;

/* What the caller knows of the guest-reported figures (available, unused,
 * usable, disk_caches, swap, faults, last_update); host-side figures
 * (actual balloon, rss) are always valid. */
typedef enum {
  MS_GUEST_LIVE = 0,  /* valid, or nothing known against them */
  MS_GUEST_STALE,     /* last_update stopped advancing (ms_staleness_judge) */
  MS_GUEST_NO_PERIOD, /* QEMU balloon with stats period 0: QEMU repeats the
                         one sample the guest sent at boot */
  MS_GUEST_NO_BALLOON /* the domain has no balloon device */
} ms_guest_t;

/* Output figures, bit (1u << tag) in `present` for each raw figure that
 * can be dispatched; sizes converted to bytes. */
typedef struct {
  uint32_t present;
  uint64_t bytes[MS_TAG_COUNT]; /* sizes in bytes; counts as they came */
  ms_used_status_t used_status;
  bool used_fell_back; /* MS_USED_USABLE without usable: unused was used */
  uint64_t used;       /* bytes, when used_status == MS_USED_OK */
  double percent;      /* used / available * 100, likewise */
} ms_figures_t;

/* Computes the figures. Unless guest is MS_GUEST_LIVE the guest-reported
 * figures are dropped (an old number presented as current is a wrong
 * number) and used_status says why. Sizes whose byte value would overflow
 * are dropped. Never fails. */
void ms_compute(const ms_raw_t *raw, ms_formula_t formula, ms_guest_t guest,
                ms_figures_t *ret);

/* Static description of a used status, e.g. "no 'available' statistic". */
const char *ms_used_status_text(ms_used_status_t status);

/* Staleness: the guest's last_update must advance. One per domain. */
typedef struct {
  bool have;
  uint64_t last_update; /* the last value seen */
  uint64_t changed_ms;  /* when it was first seen with that value */
} ms_staleness_t;

/* Updates *s with this read's stats at now_ms and says whether they are
 * stale: only judged when the domain is running, the balloon's stats period
 * is known and > 0 and last_update is reported; stale when last_update has
 * not advanced for more than max(3 * period_s, 3 * interval_ms). */
bool ms_staleness_judge(ms_staleness_t *s, const ms_raw_t *raw, bool running,
                        unsigned period_s, uint64_t interval_ms,
                        uint64_t now_ms);

#endif
