/* state_store.h: the state file that keeps the tracker's totals across
 * restarts.
 *
 * Versioned text, one domain a line, written atomically: PATH.tmp is written,
 * fsync'd, mode 0600, renamed over PATH, and the directory fsync'd. A reader
 * accepts only a complete file of a known version: a truncated, corrupt or
 * future-version file is refused with an error code and never partly used.
 * Pure file I/O: no logging, no clock reads.
 *
 * Format (version 2):
 *   virt_inspector-state 2
 *   boot_id <36 chars>
 *   saved_ms <u64>
 *   domain <uuid> <id> <state> <reason> <present 0|1> <entered_ms>
 *          <running_since_ms> <gone_since_ms> <seen_mask> <t0> .. <t7>
 *          <process> <cpu_ns> <name>
 *   ...
 *   end <number of domain lines>
 * (one line per domain; <name> is percent-encoded: bytes outside 0x21..0x7e
 * and '%' become %XX.)
 * Every line ends in '\n', fields are separated by one space, numbers are
 * decimal without '+' or leading zeros (id: -1..INT_MAX, reason: an int,
 * state 0..7, seen_mask 0..255), uuids and boot_id are lower-case
 * 8-4-4-4-12, names decode to at most ST_NAME_MAX bytes without NUL, no two
 * domains share a uuid, lines are at most 8 KiB and nothing follows the end
 * line. <process> and <cpu_ns> are the continuity evidence
 * (st_evidence_t, 0: unknown). Version 1 files (without them) are read
 * with the evidence unknown: an upgrade keeps every total.
 */
#ifndef STATE_STORE_H
#define STATE_STORE_H

#include "state_tracker.h"

#include <stddef.h>

#define STATE_STORE_VERSION 2

/* Only a regular file is ever read, replaced or moved aside: a symbolic
 * link (not followed), a directory, a FIFO or a device is -ENOTSUP for
 * every function below, and left as it is. */

/* Writes snap to path atomically: PATH.tmp created afresh (O_EXCL |
 * O_NOFOLLOW; a left-over one is unlinked first), then renamed over PATH
 * if PATH is a regular file or absent. 0 or -errno; -EINVAL (nothing
 * written) if snap holds something the reader would refuse. */
int state_store_write(const char *path, const st_snapshot_t *snap);

/* Reads and parses path. -ENOENT when there is no file; otherwise as
 * state_store_parse (state_store_priv.h) or -errno of the read (-EFBIG over 256
 * MiB, -ENOTSUP not a regular file). */
int state_store_read(const char *path, st_snapshot_t **ret);

/* Whether path is a regular file (lstat: a link is not): 0, -ENOTSUP, or
 * -errno (-ENOENT: nothing there). */
int state_store_check(const char *path);
/* What path is, in words ("directory", "FIFO", "symbolic link", ...). */
const char *state_store_kind(const char *path);

/* Moves a bad regular file aside to PATH.corrupt (replacing an older one).
 * 0 or -errno. */
int state_store_quarantine(const char *path);

#endif
