/* make_state_v2.c: writes tests/data/state-v2.txt, a state file of version 2
 * as the plugin before version 3 (main at 9a96d0e) wrote it: its own
 * tracker driven through pause/resume, pmsuspend, crash, destroy and a
 * domain gone from libvirt, exported and written by its own state_store.
 * Not built by `make`: it only compiles against that older tree.
 *
 * It was made in a checkout of 9a96d0e built in build/ (autoreconf -fi &&
 * mkdir build && cd build && ../configure && make), from the top:
 *   cc -std=c11 -Wall -Wextra -Werror -Isrc tests/data/make_state_v2.c \
 *     build/.libs/libvicore.a -o /tmp/mk && /tmp/mk tests/data/state-v2.txt
 */
#include "state_store.h"
#include "state_tracker.h"

#include <stdio.h>

#define BOOT "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
#define U(n) "00000000-0000-4000-8000-00000000000" n

int main(int argc, char **argv) {
  if (argc != 2)
    return 2;
  st_tracker_t *st = st_create();
  st_evidence_t ev = {.process = 4242, .cpu_ns = 7000000};
  /* web1: booted at 1000, paused 5000..7000, running since. */
  st_poll_ev(st, U("1"), "web1", 1, 1, 1, &ev, 1000, NULL);
  st_event(st, U("1"), NULL, 1, 3, 1, 5000, NULL);
  st_event(st, U("1"), NULL, 1, 1, 5, 7000, NULL);
  /* db2: booted at 1000, paused (user) since 8000. */
  st_poll_ev(st, U("2"), "db2", 2, 1, 1, &ev, 1000, NULL);
  st_event(st, U("2"), NULL, 2, 3, 1, 8000, NULL);
  /* off3: shut off at first sight, ran 2000..4000, destroyed. */
  st_poll(st, U("3"), "off 3 \xc3\xa9", -1, 5, 1, 1000, NULL);
  st_event(st, U("3"), NULL, 3, 1, 1, 2000, NULL);
  st_event(st, U("3"), NULL, -1, 5, 2, 4000, NULL);
  /* crash5: running, crashed (panicked) at 6000. */
  st_poll(st, U("5"), "crash5", 5, 1, 1, 1000, NULL);
  st_event(st, U("5"), NULL, 5, 6, 1, 6000, NULL);
  /* pm6: running, pmsuspended at 3000. */
  st_poll(st, U("6"), "pm6", 6, 1, 1, 1000, NULL);
  st_event(st, U("6"), NULL, 6, 7, 0, 3000, NULL);
  /* gone4: running, not in the poll of 9000: gone at 9000. */
  st_poll(st, U("4"), "gone4", 4, 1, 1, 1000, NULL);
  /* The read at 9000 sees all but gone4 (each as it is). */
  st_poll_ev(st, U("1"), NULL, 1, 1, 5, &ev, 9000, NULL);
  st_poll_ev(st, U("2"), NULL, 2, 3, 1, &ev, 9000, NULL);
  st_poll(st, U("3"), NULL, -1, 5, 2, 9000, NULL);
  st_poll(st, U("5"), NULL, 5, 6, 1, 9000, NULL);
  st_poll(st, U("6"), NULL, 6, 7, 0, 9000, NULL);
  st_sweep(st, 9000, 9100, 3600000);

  st_snapshot_t *snap = NULL;
  int status = st_export(st, BOOT, 10000, &snap);
  if (status == 0)
    status = state_store_write(argv[1], snap);
  st_snapshot_free(snap);
  st_destroy(st);
  if (status != 0)
    fprintf(stderr, "make_state_v2: %d\n", status);
  return status != 0;
}
