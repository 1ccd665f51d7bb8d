/* persist.c: see persist.h. */
#include "persist.h"
#include "state_store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct persist {
  char *path;
  char boot_id[ST_UUID_LEN + 1];
  bool boot_id_known;
  bool off; /* path "": persistence turned off */
  bool enabled;
  uint64_t save_interval_ms;
  uint64_t last_save_ms;

  /* The write in flight. */
  pthread_t thread;
  bool running;
  st_snapshot_t *snap;
  int rc;
};

static int uuid_cmp(const void *key, const void *elt) {
  return strcmp(key, ((const st_record_t *)elt)->uuid);
}

/* The domain of a snapshot sorted by uuid, or NULL. */
static const st_record_t *find_record(const st_snapshot_t *snap,
                                      const char *uuid) {
  if (snap->count == 0)
    return NULL;
  return bsearch(uuid, snap->records, snap->count, sizeof(*snap->records),
                 uuid_cmp);
}

static bool read_boot_id(const char *path, char ret[ST_UUID_LEN + 1]) {
  FILE *fh = fopen(path, "r");
  if (fh == NULL)
    return false;
  char buf[64] = "";
  char *ok = fgets(buf, sizeof(buf), fh);
  fclose(fh);
  if (ok == NULL || strlen(buf) < ST_UUID_LEN)
    return false;
  memcpy(ret, buf, ST_UUID_LEN);
  ret[ST_UUID_LEN] = '\0';
  return true;
}

persist_t *persist_create(const char *path, const char *boot_id_path,
                          uint64_t save_interval_ms, uint64_t now_ms) {
  persist_t *p = calloc(1, sizeof(*p));
  if (p == NULL || path == NULL || (p->path = strdup(path)) == NULL) {
    free(p);
    return NULL;
  }
  p->off = path[0] == '\0';
  p->boot_id_known = read_boot_id(
      boot_id_path != NULL ? boot_id_path : PERSIST_BOOT_ID_PATH, p->boot_id);
  if (!p->boot_id_known) /* a saved clock cannot be trusted: no credit */
    snprintf(p->boot_id, sizeof(p->boot_id), "%s",
             "00000000-0000-0000-0000-000000000000");
  p->enabled = !p->off;
  p->save_interval_ms = save_interval_ms;
  p->last_save_ms = now_ms;
  return p;
}

void persist_destroy(persist_t *p) {
  if (p == NULL)
    return;
  persist_collect(p);
  free(p->path);
  free(p);
}

const char *persist_path(const persist_t *p) { return p->path; }
bool persist_boot_id_known(const persist_t *p) { return p->boot_id_known; }
bool persist_enabled(const persist_t *p) { return p->enabled; }

/* The running clock of a domain in a snapshot sorted by uuid: its saved
 * total in state running (0 if absent; the store refuses such a file). */
static uint64_t saved_run_ms(const char *uuid, void *ud) {
  const st_snapshot_t *snap = ud;
  const st_record_t *r = find_record(snap, uuid);
  return r != NULL ? r->total_ms[ST_STATE_RUNNING] : 0;
}

void persist_load(persist_t *p, st_tracker_t *tracker, at_t *attrs,
                  uint64_t now_ms, persist_loaded_t *ret) {
  memset(ret, 0, sizeof(*ret));
  if (p->off) {
    ret->outcome = PERSIST_OFF;
    return;
  }
  /* Only a regular file is ours: anything else (a symbolic link, a
   * directory, a FIFO, a device such as /dev/null) is neither read, nor
   * replaced, nor moved aside. */
  int rc = state_store_check(p->path);
  if (rc == -ENOTSUP) {
    ret->outcome = PERSIST_NOT_REGULAR;
    ret->rc = rc;
    ret->kind = state_store_kind(p->path);
    p->enabled = false;
    return;
  }
  st_snapshot_t *snap = NULL;
  if (rc == 0 || rc == -ENOENT)
    rc = state_store_read(p->path, &snap);
  if (rc == 0) {
    /* An unknown boot id (ours is all zeros then) proves nothing, even
     * when the file's is unknown too. */
    ret->same_clock =
        p->boot_id_known && strcmp(snap->boot_id, p->boot_id) == 0;
    ret->count = snap->count;
    rc = st_import(tracker, snap, ret->same_clock, now_ms);
    /* The TimeBy totals, on the running clocks the tracker restored: a
     * downtime the tracker credits to running goes on the clock, so to the
     * value (if unchanged); one it does not credit, to no value. */
    if (rc == 0 && attrs != NULL && snap->attrs != NULL && snap->count > 0) {
      qsort(snap->records, snap->count, sizeof(*snap->records), st_record_cmp);
      ret->attr_count = snap->attrs->count;
      int rc2 = at_import(attrs, snap->attrs, saved_run_ms, snap);
      if (rc2 != 0) {
        /* The states are restored; the file is kept as it is. */
        st_snapshot_free(snap);
        ret->outcome = PERSIST_ATTRS_UNREADABLE;
        ret->rc = rc2;
        p->enabled = false;
        return;
      }
    }
    st_snapshot_free(snap);
    if (rc == 0)
      return; /* PERSIST_LOADED */
    /* Out of memory (or a tracker not empty) says nothing about the file:
     * keep it, and do not overwrite it. Only bad content is corrupt. */
    if (rc != -EINVAL) {
      ret->outcome = PERSIST_UNREADABLE;
      ret->rc = rc;
      p->enabled = false;
      return;
    }
  }
  ret->rc = rc;
  if (rc == -ENOENT) {
    ret->outcome = PERSIST_NO_FILE;
  } else if (rc == -EINVAL || rc == -EPROTONOSUPPORT) {
    ret->rc2 = state_store_quarantine(p->path);
    ret->outcome = ret->rc2 == 0 ? PERSIST_QUARANTINED : PERSIST_KEPT_BAD;
    p->enabled = ret->rc2 == 0;
  } else if (rc == -ENOTSUP) { /* replaced by a non-regular file meanwhile */
    ret->outcome = PERSIST_NOT_REGULAR;
    ret->kind = state_store_kind(p->path);
    p->enabled = false;
  } else {
    ret->outcome = PERSIST_UNREADABLE;
    p->enabled = false;
  }
}

bool persist_due(const persist_t *p, uint64_t now_ms) {
  return p->enabled && now_ms - p->last_save_ms >= p->save_interval_ms;
}

/* Keeps the attribute records of domains in the snapshot (the state file
 * refuses others: a domain the tracker forgot). */
static void drop_orphans(st_snapshot_t *snap) {
  at_records_t *at = snap->attrs;
  size_t kept = 0;
  for (size_t i = 0; i < at->count; i++) {
    at_record_t *a = &at->records[i];
    if (find_record(snap, a->uuid) != NULL) {
      at->records[kept++] = *a;
    } else {
      free(a->name);
      free(a->value);
    }
  }
  at->count = kept;
}

int persist_snapshot(persist_t *p, const st_tracker_t *tracker,
                     const at_t *attrs, uint64_t now_ms, st_snapshot_t **ret) {
  p->last_save_ms = now_ms;
  int rc = st_export(tracker, p->boot_id, now_ms, ret);
  if (rc != 0 || attrs == NULL)
    return rc;
  /* st_export sorts by uuid: the running clocks are looked up in it. */
  rc = at_export(attrs, saved_run_ms, *ret, &(*ret)->attrs);
  if (rc != 0) {
    st_snapshot_free(*ret);
    *ret = NULL;
    return rc;
  }
  drop_orphans(*ret);
  return 0;
}

static void *writer(void *arg) {
  persist_t *p = arg;
  p->rc = state_store_write(p->path, p->snap);
  st_snapshot_free(p->snap);
  p->snap = NULL;
  return NULL;
}

int persist_collect(persist_t *p) {
  if (!p->running)
    return 1;
  pthread_join(p->thread, NULL);
  p->running = false;
  return p->rc;
}

int persist_write(persist_t *p, st_snapshot_t *snap, bool background) {
  if (snap == NULL)
    return 0;
  persist_collect(p);
  p->snap = snap;
  if (background && pthread_create(&p->thread, NULL, writer, p) == 0) {
    p->running = true;
    return 1;
  }
  writer(p);
  return p->rc;
}
