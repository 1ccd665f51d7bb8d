/* state_store.h: the state file that keeps the tracker's totals across
 * restarts.
 *
 * Versioned text, one record a line, written atomically: PATH.tmp is written,
 * fsync'd, mode 0600, renamed over PATH, and the directory fsync'd. A reader
 * accepts only a complete file of a known version: a truncated, corrupt or
 * future-version file is refused with an error code and never partly used.
 * Pure file I/O: no logging, no clock reads.
 *
 * Format (version 3):
 *   virt_inspector-state 3
 *   boot_id <36 chars>
 *   saved_ms <u64>
 *   <record>
 *   ...
 *   end <number of domain records>
 * A record is one line that starts with its kind, a keyword; the parser
 * dispatches on it through the table store_records[] in state_store.c, in
 * which each kind has the first version that has it. A kind the file's
 * version does not have makes the file corrupt: nothing is skipped. Version
 * 3 has two kinds: one record per domain,
 *   domain <uuid> <id> <state> <reason> <present 0|1> <entered_ms>
 *          <up_since_ms> <gone_since_ms> <seen_mask> <t0> .. <t7>
 *          <process> <cpu_ns> <name>
 * (one line; <name> is percent-encoded: bytes outside 0x21..0x7e and '%'
 * become %XX), and after it, one per TimeBy value of that domain
 * (st_snapshot_t.attrs, at_record_t):
 *   attr <uuid> <current 0|1> <other 0|1> <total_ms> <name> <value>
 * <uuid> that of the domain line it follows, <name> the attribute's
 * (1..AT_NAME_MAX bytes), <value> (at most AT_VALUE_MAX bytes) "-" for
 * the overflow entry (other 1), both percent-encoded as names are; per
 * domain and attribute no value twice, at most one current value, one
 * overflow entry and AT_VALUES_MAX values (what at_import accepts).
 * Records that belong to a domain follow its domain record and name its
 * uuid; to add a kind: a row in store_records[] with its parser,
 * its lines in format_snapshot, its data in st_snapshot_t. A kind added
 * before version 3 is released stays version 3; one added after a release
 * bumps the version (an older reader then refuses the file as newer,
 * rather than dropping what it cannot read).
 * Every line ends in '\n', fields are separated by one space, numbers are
 * decimal without '+' or leading zeros (id: -1..INT_MAX, reason: an int,
 * state 0..7, seen_mask 0..255), uuids and boot_id are lower-case
 * 8-4-4-4-12, names decode to at most ST_NAME_MAX bytes without NUL, no two
 * domains share a uuid, lines are at most 8 KiB and nothing follows the end
 * line (it counts domain records). <process> and <cpu_ns> are the continuity
 * evidence (st_evidence_t, 0: unknown); <up_since_ms> is the domain's last
 * start (st_record_t), 0 when it is not up. Older versions are read with every
 * total kept: version 2 has the same domain line with <running_since_ms> (since
 * the domain last entered running) for <up_since_ms>, version 1 has it too and
 * no evidence fields. They kept no start: a domain up in such a file counts its
 * uptime from the start of its saved stint (<entered_ms>), an under-count,
 * never more; the evidence of a version 1 file is unknown.
 */
#ifndef STATE_STORE_H
#define STATE_STORE_H

#include "state_tracker.h"

#include <stddef.h>

#define STATE_STORE_VERSION 3

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
