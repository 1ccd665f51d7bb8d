/* bench_heap: a collectd plugin for the benchmark that reports the heap the
 * daemon keeps, to tell a plugin's per-domain memory from transient peaks.
 *
 *   <Plugin bench_heap>
 *     File "/path/heap"      # appended: "epoch_s min_bytes max_bytes"
 *     SampleMs 250
 *   </Plugin>
 *
 * A thread samples glibc's mallinfo2() (bytes in use: arena + mmapped
 * chunks) every SampleMs and once a second appends the smallest and the
 * largest sample of that second. The smallest is the heap kept between
 * reads (tracked domains, collectd's value cache), without the transient
 * buffers of a read or the write queue. It dispatches nothing.
 */
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"

#include <malloc.h>
#include <pthread.h>
#include <time.h>

#define PLUGIN_NAME "bench_heap"

static char *file;
static int sample_ms = 250;
static pthread_t thread;
static bool running;
static volatile bool stop;

static int bh_config(oconfig_item_t *ci) {
  for (int i = 0; i < ci->children_num; i++) {
    oconfig_item_t *c = &ci->children[i];
    int rc;
    if (strcasecmp(c->key, "File") == 0)
      rc = cf_util_get_string(c, &file);
    else if (strcasecmp(c->key, "SampleMs") == 0)
      rc = cf_util_get_int(c, &sample_ms);
    else
      rc = -1;
    if (rc != 0) {
      ERROR(PLUGIN_NAME " plugin: bad option %s", c->key);
      return -1;
    }
  }
  return 0;
}

static void *sampler(void *arg) {
  (void)arg;
  size_t lo = SIZE_MAX, hi = 0;
  time_t second = time(NULL);
  while (!stop) {
    struct mallinfo2 mi = mallinfo2();
    size_t inuse = mi.uordblks + mi.hblkhd;
    if (inuse < lo)
      lo = inuse;
    if (inuse > hi)
      hi = inuse;
    time_t now = time(NULL);
    if (now != second) {
      FILE *fh = fopen(file, "a");
      if (fh != NULL) {
        fprintf(fh, "%lld %zu %zu\n", (long long)now, lo, hi);
        fclose(fh);
      }
      lo = SIZE_MAX;
      hi = 0;
      second = now;
    }
    struct timespec ts = {.tv_sec = sample_ms / 1000,
                          .tv_nsec = (long)(sample_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

static int bh_init(void) {
  if (file == NULL || running)
    return 0;
  if (pthread_create(&thread, NULL, sampler, NULL) != 0)
    return -1;
  running = true;
  return 0;
}

static int bh_shutdown(void) {
  if (running) {
    stop = true;
    pthread_join(thread, NULL);
    running = false;
  }
  sfree(file);
  return 0;
}

void module_register(void) {
  plugin_register_complex_config(PLUGIN_NAME, bh_config);
  plugin_register_init(PLUGIN_NAME, bh_init);
  plugin_register_shutdown(PLUGIN_NAME, bh_shutdown);
}
