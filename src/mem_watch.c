/* mem_watch.c: see mem_watch.h. */
#include "mem_watch.h"

#include <string.h>

void mw_init(mw_t *w) {
  memset(w, 0, sizeof(*w));
  w->id = -1;
  w->logged_status = -1;
}

bool mw_needs_balloon(const mw_t *w, int id) {
  if (w->id != id || w->reread)
    return true;
  if (w->balloon_valid)
    return false;
  if (w->fails == 0)
    return true;
  /* Retries after 1, 2, 4, 8 reads; then unknown for this boot. */
  return w->fails < MW_BALLOON_TRIES &&
         w->reads_since_try >= (1u << (w->fails - 1));
}

void mw_balloon(mw_t *w, int id, const domain_balloon_t *balloon) {
  if (w->id != id) { /* a new boot */
    w->id = id;
    w->period_set_tried = false;
    w->await_fresh = false;
    w->fails = 0;
    w->reread_done = false;
    memset(&w->staleness, 0, sizeof(w->staleness));
  }
  w->reread = false;
  w->reads_since_try = 0;
  w->balloon_known = true;
  w->balloon_valid = balloon != NULL;
  if (balloon != NULL) {
    w->balloon = *balloon;
  } else {
    w->fails++;
    memset(&w->balloon, 0, sizeof(w->balloon));
  }
}

bool mw_wants_period(const mw_t *w, bool running, unsigned period_s) {
  return running && period_s > 0 && !w->period_set_tried &&
         w->balloon.has_balloon && w->balloon.stats_period == 0;
}

void mw_period_set(mw_t *w, bool ok, unsigned period_s, const ms_raw_t *raw) {
  w->period_set_tried = true;
  if (!ok)
    return;
  w->balloon.stats_period = period_s;
  /* What QEMU reports now is still the old sample: wait for a new one. */
  w->await_fresh = ms_raw_has(raw, MS_LAST_UPDATE);
  w->frozen_update = raw->value[MS_LAST_UPDATE];
}

void mw_inactive(mw_t *w) {
  w->id = -1;
  w->balloon_known = false;
}

/* A QEMU balloon known to have period 0 whose last_update moved since the
 * last read: someone set a period live. The figures are live; the XML is
 * read once more for the period. */
static void notice_live_period(mw_t *w, const ms_raw_t *mem) {
  if (!w->balloon_valid || !w->balloon.period_gates_stats ||
      w->balloon.stats_period != 0 || w->await_fresh || !w->staleness.have ||
      !ms_raw_has(mem, MS_LAST_UPDATE) ||
      mem->value[MS_LAST_UPDATE] == w->staleness.last_update)
    return;
  w->balloon.stats_period = 1; /* > 0, until the XML says which */
  w->period_set_tried = true;  /* not ours to set any more this boot */
  if (!w->reread_done) {
    w->reread = true;
    w->reread_done = true;
  }
}

/* Is what the guest reported current? */
static ms_guest_t guest_status(mw_t *w, const mw_input_t *in) {
  const ms_raw_t *mem = in->mem;
  if (w->await_fresh && (!ms_raw_has(mem, MS_LAST_UPDATE) ||
                         mem->value[MS_LAST_UPDATE] != w->frozen_update))
    w->await_fresh = false;
  notice_live_period(w, mem);
  ms_guest_t guest = MS_GUEST_LIVE;
  if (w->balloon_valid && !w->balloon.has_balloon)
    guest = MS_GUEST_NO_BALLOON;
  else if (w->balloon_valid && w->balloon.period_gates_stats &&
           (w->balloon.stats_period == 0 || w->await_fresh))
    guest = MS_GUEST_NO_PERIOD;
  /* Unknown balloon: judged on the interval alone (period "1 s"). */
  unsigned period = w->balloon_valid ? w->balloon.stats_period : 1;
  bool stale = ms_staleness_judge(&w->staleness, mem, in->running, period,
                                  in->interval_ms, in->now_ms);
  if (stale && guest == MS_GUEST_LIVE)
    guest = MS_GUEST_STALE;
  return guest;
}

static mw_log_t status_log(ms_used_status_t status, int logged) {
  if ((int)status == logged)
    return MW_LOG_NONE;
  switch (status) {
  case MS_USED_OK:
    return logged != -1 ? MW_LOG_USED_AGAIN : MW_LOG_NONE;
  case MS_USED_NO_STATS:
    return MW_LOG_NO_STATS;
  case MS_USED_STALE:
  case MS_USED_NO_PERIOD:
  case MS_USED_NO_BALLOON:
    return MW_LOG_HOST_ONLY;
  default:
    return MW_LOG_NO_USED;
  }
}

void mw_judge(mw_t *w, const mw_input_t *in, mw_output_t *ret) {
  memset(ret, 0, sizeof(*ret));
  if (w->reads_since_try < UINT32_MAX)
    w->reads_since_try++;
  ms_compute(in->mem, in->formula, guest_status(w, in), &ret->fig);
  if (ret->fig.used_fell_back && ret->fig.used_status == MS_USED_OK &&
      !w->logged_fallback) {
    w->logged_fallback = true;
    ret->log_fallback = true;
  }
  ret->log = status_log(ret->fig.used_status, w->logged_status);
  w->logged_status = (int)ret->fig.used_status;
}
