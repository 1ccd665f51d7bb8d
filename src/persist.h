/* persist.h: keeping the state tracker across collectd restarts: the boot
 * id, the load and quarantine policy, and the save thread.
 *
 * The file format is state_store's; the continuity rule is the tracker's
 * (st_import). This part decides what happens around them:
 *   - path "": persistence is off (nothing read or written).
 *   - load: a good file is imported (same_clock when its boot id is ours
 *     and known); no file: fresh start; a corrupt, truncated or
 *     future-version regular file is moved aside to PATH.corrupt (the only
 *     thing ever moved), and if it cannot be, saving is turned off so as
 *     not to overwrite it; an unreadable file (permissions, or out of
 *     memory while importing it) turns saving off too; a path that is not
 *     a regular file (symbolic link, directory, FIFO, device) is left
 *     alone and turns saving off.
 *   - save: the caller takes the snapshot (under its lock) and hands it
 *     over; it is formatted and written by a thread of its own (about 1 s
 *     of work at 10,000 domains, bench/), one write at a time, whose
 *     result the next save collects; at shutdown in the caller's thread.
 * No logging: every outcome is returned for the glue to log. Not
 * thread-safe: one caller thread (collectd's read/init/shutdown).
 */
#ifndef PERSIST_H
#define PERSIST_H

#include "attr_time.h"
#include "state_tracker.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct persist persist_t;

#define PERSIST_BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

/* path is copied ("": persistence off); boot_id_path NULL:
 * PERSIST_BOOT_ID_PATH. The boot id is read here; unreadable, it is all zeros
 * (persist_boot_id_known false) and no gap is ever credited. Saves are due
 * every save_interval_ms from now_ms. NULL when out of memory. */
persist_t *persist_create(const char *path, const char *boot_id_path,
                          uint64_t save_interval_ms, uint64_t now_ms);
/* Waits for a write in flight (its result is lost); accepts NULL. */
void persist_destroy(persist_t *p);

const char *persist_path(const persist_t *p);
bool persist_boot_id_known(const persist_t *p);
/* Whether saves are on (a bad file that stayed in place turns them off). */
bool persist_enabled(const persist_t *p);

typedef enum {
  PERSIST_LOADED = 0,       /* count domains restored; same_clock */
  PERSIST_NO_FILE,          /* fresh start */
  PERSIST_QUARANTINED,      /* rc -EINVAL (corrupt) or -EPROTONOSUPPORT (newer):
                               moved aside to .corrupt, fresh start */
  PERSIST_KEPT_BAD,         /* as QUARANTINED but it could not be moved (rc2):
                               fresh start, saving off */
  PERSIST_UNREADABLE,       /* rc: cannot be read (or -ENOMEM importing it);
                               fresh start, saving off */
  PERSIST_NOT_REGULAR,      /* kind: not a regular file, left alone; fresh
                               start, saving off */
  PERSIST_OFF,              /* path "": persistence turned off */
  PERSIST_ATTRS_UNREADABLE, /* the states are restored (count, same_clock)
                               but not the TimeBy totals: rc (-ENOMEM);
                               saving off (the file is kept) */
} persist_outcome_t;

typedef struct {
  persist_outcome_t outcome;
  int rc;  /* why (QUARANTINED, KEPT_BAD, UNREADABLE) */
  int rc2; /* why it could not be moved (KEPT_BAD) */
  size_t count;
  size_t attr_count; /* TimeBy records in the file (attrs not NULL) */
  bool same_clock;
  const char *kind; /* NOT_REGULAR: "directory", "FIFO", ... */
} persist_loaded_t;

/* Loads the file into an empty tracker at now_ms, and its TimeBy totals
 * into attrs (empty; NULL: none kept) on the running clocks saved with them
 * (at_import): a restored value continues over a downtime only as far as
 * the tracker credits running (its continuity rule). */
void persist_load(persist_t *p, st_tracker_t *tracker, at_t *attrs,
                  uint64_t now_ms, persist_loaded_t *ret);

/* Whether a save is due at now_ms (saving on and the interval passed). */
bool persist_due(const persist_t *p, uint64_t now_ms);

/* Waits for the write in flight, if any: its result (0 or -errno), or 1
 * when there was none. */
int persist_collect(persist_t *p);

/* Snapshot of the tracker at now_ms, with our boot id, and the TimeBy
 * totals of attrs (NULL: none) at each domain's running clock then, for
 * persist_write (the caller holds the lock of both). Totals of a domain the
 * tracker no longer knows are left out. 0 or -ENOMEM. Marks the save done
 * at now_ms for persist_due. */
int persist_snapshot(persist_t *p, const st_tracker_t *tracker,
                     const at_t *attrs, uint64_t now_ms, st_snapshot_t **ret);

/* Writes snap (ownership passes; NULL: nothing). background: on a thread
 * of its own, returning 1 (collect the result with persist_collect; a
 * write still in flight is collected first), falling back to this thread
 * if none can be started; otherwise here: 0 or -errno. */
int persist_write(persist_t *p, st_snapshot_t *snap, bool background);

#endif
