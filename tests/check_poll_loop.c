/* Unit tests for poll_loop: handles on a pipe, timeouts, removal inside a
 * callback, free functions run later, and the refusal of handles. */
#include "check_run.h"

#include "poll_loop.h"
#include <check.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

static int calls, last_events, frees, timer_calls;

static void on_fd(int watch, int fd, int events, void *opaque) {
  (void)watch;
  (void)opaque;
  calls++;
  last_events = events;
  char c;
  if (events & PL_READABLE)
    ck_assert_int_eq(read(fd, &c, 1), 1);
}

static void on_free(void *opaque) {
  (void)opaque;
  frees++;
}

static void on_timer(int timer, void *opaque) {
  (void)opaque;
  timer_calls++;
  if (timer_calls == 3)
    pl_remove_timeout(timer); /* inside its own callback */
}

static void reset(void) { calls = last_events = frees = timer_calls = 0; }

START_TEST(test_handle) {
  reset();
  ck_assert_int_eq(pl_init(), 0);
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  int w = pl_add_handle(p[0], PL_READABLE, on_fd, NULL, on_free);
  ck_assert_int_gt(w, 0);
  ck_assert_int_eq(pl_run_once(0), 0);
  ck_assert_int_eq(calls, 0); /* nothing to read */
  ck_assert_int_eq(write(p[1], "x", 1), 1);
  ck_assert_int_eq(pl_run_once(1000), 0);
  ck_assert_int_eq(calls, 1);
  ck_assert_int_eq(last_events, PL_READABLE);
  /* no interest: not called although readable */
  pl_update_handle(w, 0);
  ck_assert_int_eq(write(p[1], "y", 1), 1);
  ck_assert_int_eq(pl_run_once(0), 0);
  ck_assert_int_eq(calls, 1);
  pl_update_handle(w, PL_READABLE);
  ck_assert_int_eq(pl_run_once(1000), 0);
  ck_assert_int_eq(calls, 2);
  /* removed: never called again; freed at the next turn, not before */
  ck_assert_int_eq(write(p[1], "z", 1), 1);
  ck_assert_int_eq(pl_remove_handle(w), 0);
  ck_assert_int_eq(frees, 0);
  ck_assert_int_eq(pl_remove_handle(w), -ENOENT);
  ck_assert_int_eq(pl_run_once(0), 0);
  ck_assert_int_eq(calls, 2);
  ck_assert_int_eq(frees, 1);
  /* hang-up */
  w = pl_add_handle(p[0], PL_READABLE, on_fd, NULL, NULL);
  close(p[1]);
  ck_assert_int_eq(pl_run_once(1000), 0); /* the pending "z" */
  ck_assert_int_eq(pl_run_once(1000), 0);
  ck_assert(last_events & PL_HANGUP);
  pl_remove_handle(w);
  pl_purge();
  close(p[0]);
}
END_TEST

START_TEST(test_timeout) {
  reset();
  ck_assert_int_eq(pl_init(), 0);
  int t = pl_add_timeout(-1, on_timer, NULL, on_free);
  ck_assert_int_gt(t, 0);
  ck_assert_int_eq(pl_run_once(0), 0);
  ck_assert_int_eq(timer_calls, 0); /* disabled */
  pl_update_timeout(t, 0);          /* every turn */
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(pl_run_once(1000), 0);
  ck_assert_int_eq(timer_calls, 3); /* removed itself at the third */
  ck_assert_int_eq(frees, 1);
  /* a 20 ms timeout bounds the wait (the first turn may end at once: the
   * add woke the loop) */
  t = pl_add_timeout(20, on_timer, NULL, NULL);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 3 && timer_calls < 4; i++)
    ck_assert_int_eq(pl_run_once(5000), 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  ck_assert_int_eq(timer_calls, 4);
  ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 3);
  pl_remove_timeout(t);
  pl_purge();
}
END_TEST

static void *waker(void *arg) {
  (void)arg;
  usleep(50000);
  pl_wake();
  return NULL;
}

START_TEST(test_wake_and_refuse) {
  ck_assert_int_eq(pl_init(), 0);
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, waker, NULL), 0);
  ck_assert_int_eq(pl_run_once(-1), 0); /* returns: woken */
  pthread_join(th, NULL);
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  pl_refuse_handles(true);
  ck_assert_int_eq(pl_add_handle(p[0], PL_READABLE, on_fd, NULL, NULL), -EPERM);
  pl_refuse_handles(false);
  int w = pl_add_handle(p[0], PL_READABLE, on_fd, NULL, NULL);
  ck_assert_int_gt(w, 0);
  pl_remove_handle(w);
  pl_purge();
  close(p[0]);
  close(p[1]);
}
END_TEST

int main(void) {
  Suite *s = suite_create("poll_loop");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_handle);
  tcase_add_test(tc, test_timeout);
  tcase_add_test(tc, test_wake_and_refuse);
  suite_add_tcase(s, tc);
  return check_run(s);
}
