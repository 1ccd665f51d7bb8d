/* mem_watch.h: the per-domain memory watcher: are a domain's guest
 * statistics live, stale, frozen at boot (balloon stats period 0), or
 * awaiting the first fresh sample after the plugin set a period? What is
 * dispatched, and which one log line is due?
 *
 * Pure C11: no libvirt, no collectd, no clock reads, no logging; the caller
 * passes the time, performs the two hypervisor calls the watcher asks for
 * and formats the log lines. One mw_t per domain, zeroed by mw_init.
 *
 * Per read of an active domain, in this order:
 *   1. mw_needs_balloon(w, id): true at the first read, after a restart (a
 *      new libvirt id), when the stats show the period changed live, and
 *      to retry a failed read. The caller reads the balloon device (the
 *      domain XML) and hands it over with mw_balloon (NULL: the read
 *      failed).
 *   2. mw_wants_period(w, running, period): true once per boot of a running
 *      domain whose balloon has stats period 0 when MemoryStatsPeriod asks
 *      for one. The caller sets it live and reports with mw_period_set.
 *   3. mw_judge: the figures to dispatch and the log line due.
 * An inactive domain: mw_inactive (its balloon is read again at its next
 * start).
 *
 * Judging: guest-reported figures are withheld when the domain has no
 * balloon device (NO_BALLOON), when a QEMU balloon has stats period 0 or the
 * period was just set and last_update has not moved yet (NO_PERIOD), and
 * when a running domain with a known period p > 0 has a last_update that
 * did not advance for more than max(3p, 3 x interval) (STALE). Where the
 * driver does not gate stats on a period (test driver), nothing is
 * withheld. Log lines: one per change of memory-used's status (mw_log_t),
 * never per read; one "falls back to unused" line per domain.
 *
 * A period set live by someone else (virsh dommemstat --period N --live)
 * shows in the stats: last_update moves while the known period is 0. The
 * figures are then live, and the XML is read once more to learn the new
 * period (a period set back to 0 shows as STALE). A failed XML read leaves
 * the balloon unknown, not known: it is retried after 1, 2, 4 and 8 reads
 * (MW_BALLOON_TRIES reads in all per boot), and while unknown a
 * last_update that does not move for 3 intervals is STALE.
 */
#ifndef MEM_WATCH_H
#define MEM_WATCH_H

#include "domain_xml.h"
#include "mem_stats.h"

#include <stdbool.h>
#include <stdint.h>

/* XML reads per boot while they fail. */
#define MW_BALLOON_TRIES 5

typedef struct {
  int id;                   /* libvirt id the balloon was read for */
  bool balloon_known;       /* balloon read (or tried) for this id */
  bool balloon_valid;       /* ... and parsed: balloon is what the XML says */
  unsigned fails;           /* failed XML reads this boot */
  unsigned reads_since_try; /* judged reads since the last failed read */
  bool reread;              /* the period changed live: read the XML again */
  bool reread_done;         /* ... once per boot */
  domain_balloon_t balloon;
  bool period_set_tried;
  bool await_fresh;       /* period just set: the boot-time sample is still */
  uint64_t frozen_update; /* there, with this last_update, until it moves */
  ms_staleness_t staleness;
  int logged_status; /* ms_used_status_t last logged, -1: none */
  bool logged_fallback;
} mw_t;

void mw_init(mw_t *w);

/* Whether the balloon facts must be (re)read before judging. */
bool mw_needs_balloon(const mw_t *w, int id);
/* The balloon facts for libvirt id `id`; NULL when they could not be read
 * (the balloon stays unknown; retried, see above). A new id starts a new
 * boot: staleness, the period attempt, the retries and the wait for a fresh
 * sample start over. */
void mw_balloon(mw_t *w, int id, const domain_balloon_t *balloon);

/* Whether to set the stats period to period_s now (period_s 0: never). */
bool mw_wants_period(const mw_t *w, bool running, unsigned period_s);
/* The result of setting it (ok) at a read that saw raw: on success the
 * statistics are withheld until last_update moves. */
void mw_period_set(mw_t *w, bool ok, unsigned period_s, const ms_raw_t *raw);

/* The domain is not active (shut off): the next start reads the balloon. */
void mw_inactive(mw_t *w);

/* The one status log line due at a read, if any. */
typedef enum {
  MW_LOG_NONE = 0,
  MW_LOG_USED_AGAIN, /* memory-used is reported again */
  MW_LOG_NO_STATS,   /* nothing reported: no memory values */
  MW_LOG_HOST_ONLY,  /* guest figures withheld (stale, no period, no
                        balloon): only rss and actual_balloon */
  MW_LOG_NO_USED,    /* memory-used and percent-used not dispatched */
} mw_log_t;

typedef struct {
  const ms_raw_t *mem;
  bool running;
  ms_formula_t formula;
  uint64_t interval_ms;
  uint64_t now_ms;
} mw_input_t;

typedef struct {
  ms_figures_t fig; /* what to dispatch; fig.used_status says why not */
  mw_log_t log;
  bool log_fallback; /* the one "no 'usable', falls back" line is due */
} mw_output_t;

void mw_judge(mw_t *w, const mw_input_t *in, mw_output_t *ret);

#endif
