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
 *   1. mw_needs_balloon(w, id): true at the first read and after a restart
 *      (a new libvirt id). The caller reads the balloon device (the domain
 *      XML) and hands it over with mw_balloon (NULL: the read failed; the
 *      balloon is then unknown for this boot and nothing is judged).
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
 * balloon is unknown (failed XML read) or the driver does not gate stats on
 * a period (test driver), nothing is withheld. Log lines: one per change of
 * memory-used's status (mw_log_t), never per read; one "falls back to
 * unused" line per domain.
 *
 * Two known limits, kept as they are (issue 17 point 3), each a change in
 * mem_watch.c alone: a failed XML read marks the balloon known for the
 * whole boot (mw_balloon(NULL)); and a period set live by someone else is
 * not noticed (the period is learned once per boot): last_update moving
 * while the known period is 0 would be the evidence, and staleness already
 * tracks last_update.
 */
#ifndef MEM_WATCH_H
#define MEM_WATCH_H

#include "domain_xml.h"
#include "mem_stats.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
  int id;             /* libvirt id the balloon was read for */
  bool balloon_known; /* balloon read (or tried) for this id */
  bool balloon_valid; /* ... and parsed: balloon is what the XML says */
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
/* The balloon facts for libvirt id `id`; NULL when they could not be read.
 * Starts a new boot: staleness, the period attempt and the wait for a
 * fresh sample start over. */
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
