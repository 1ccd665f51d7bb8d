/* notify_queue.c: see notify_queue.h. */
#include "notify_queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct nq_item {
  struct nq_item *next;
  st_result_t r;
  uint64_t when;
  char uuid[ST_UUID_LEN + 1];
  char name[]; /* flexible */
} nq_item_t;

static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  nq_item_t *head, *tail;
  size_t count;
  bool busy;     /* the thread is dispatching one */
  bool stop;     /* drain and exit */
  bool running;  /* the thread was started */
  bool refusing; /* over NQ_MAX */
  nq_dispatch_fn dispatch;
  pthread_t thread;
} nq = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void *nq_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&nq.lock);
  for (;;) {
    while (nq.head == NULL && !nq.stop)
      pthread_cond_wait(&nq.cond, &nq.lock);
    if (nq.head == NULL)
      break; /* stop, and drained */
    nq_item_t *it = nq.head;
    nq.head = it->next;
    if (nq.head == NULL)
      nq.tail = NULL;
    nq.count--;
    nq.busy = true;
    pthread_mutex_unlock(&nq.lock);
    nq.dispatch(it->name, it->uuid, &it->r, it->when);
    free(it);
    pthread_mutex_lock(&nq.lock);
    nq.busy = false;
    pthread_cond_broadcast(&nq.cond);
  }
  pthread_mutex_unlock(&nq.lock);
  return NULL;
}

int nq_start(nq_dispatch_fn dispatch) {
  nq.dispatch = dispatch;
  nq.stop = false;
  int rc = pthread_create(&nq.thread, NULL, nq_main, NULL);
  nq.running = rc == 0;
  return -rc;
}

bool nq_running(void) { return nq.running; }

int nq_push(const char *name, const char *uuid, const st_result_t *r,
            uint64_t when, bool *first) {
  *first = false;
  size_t n = strlen(name);
  nq_item_t *it = malloc(sizeof(*it) + n + 1);
  if (it == NULL)
    return -ENOMEM;
  it->next = NULL;
  it->r = *r;
  it->when = when;
  strncpy(it->uuid, uuid, ST_UUID_LEN);
  it->uuid[ST_UUID_LEN] = '\0';
  memcpy(it->name, name, n + 1);
  pthread_mutex_lock(&nq.lock);
  if (nq.count >= NQ_MAX) {
    *first = !nq.refusing;
    nq.refusing = true;
    pthread_mutex_unlock(&nq.lock);
    free(it);
    return -ENOBUFS;
  }
  nq.refusing = false;
  if (nq.tail != NULL)
    nq.tail->next = it;
  else
    nq.head = it;
  nq.tail = it;
  nq.count++;
  pthread_cond_signal(&nq.cond);
  pthread_mutex_unlock(&nq.lock);
  return 0;
}

void nq_flush(void) {
  pthread_mutex_lock(&nq.lock);
  while (nq.head != NULL || nq.busy)
    pthread_cond_wait(&nq.cond, &nq.lock);
  pthread_mutex_unlock(&nq.lock);
}

void nq_stop(void) {
  if (!nq.running)
    return;
  pthread_mutex_lock(&nq.lock);
  nq.stop = true;
  pthread_cond_broadcast(&nq.cond);
  pthread_mutex_unlock(&nq.lock);
  pthread_join(nq.thread, NULL);
  nq.running = false;
}
