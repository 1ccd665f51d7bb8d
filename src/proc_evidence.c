/* proc_evidence.c: see proc_evidence.h. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* DT_DIR */
#endif

#include "proc_evidence.h"
#include "uuid_map.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PE_READ_MAX 65536 /* bytes of a cmdline or stat file read */

/* Reads up to cap - 1 bytes of a file, NUL-terminated. Length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return -errno;
  size_t len = 0;
  while (len < cap - 1) {
    ssize_t n = read(fd, buf + len, cap - 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    if (n == 0)
      break;
    len += (size_t)n;
  }
  close(fd);
  buf[len] = '\0';
  return (ssize_t)len;
}

static bool parse_pid(const char *s, int *ret) {
  if (*s == '\0')
    return false;
  long v = 0;
  for (; *s != '\0'; s++) {
    if (!isdigit((unsigned char)*s) || v > INT_MAX / 10)
      return false;
    v = v * 10 + (*s - '0');
  }
  if (v <= 0 || v > INT_MAX)
    return false;
  *ret = (int)v;
  return true;
}

/* The uuid after "-uuid" in a NUL-separated command line, if any. */
static bool cmdline_uuid(const char *buf, size_t len, char *ret) {
  const char *end = buf + len;
  for (const char *a = buf; a < end; a += strlen(a) + 1) {
    if (strcmp(a, "-uuid") != 0)
      continue;
    const char *u = a + strlen(a) + 1;
    if (u >= end || strlen(u) != 36 || !uuid_map_key_valid(u, 36))
      return false;
    memcpy(ret, u, 37);
    return true;
  }
  return false;
}

int pe_scan(const char *proc_root, pe_process_t **ret, size_t *ret_n) {
  *ret = NULL;
  *ret_n = 0;
  DIR *dir = opendir(proc_root);
  if (dir == NULL)
    return -errno;
  char *buf = malloc(PE_READ_MAX);
  if (buf == NULL) {
    closedir(dir);
    return -ENOMEM;
  }
  pe_process_t *list = NULL;
  size_t n = 0, cap = 0;
  int status = 0;
  struct dirent *de;
  while ((de = readdir(dir)) != NULL) {
    int pid;
    if (!parse_pid(de->d_name, &pid))
      continue;
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%d/cmdline", proc_root, pid) >=
        (int)sizeof(path))
      continue;
    ssize_t len = read_small(path, buf, PE_READ_MAX);
    char uuid[37];
    if (len <= 0 || !cmdline_uuid(buf, (size_t)len, uuid))
      continue;
    if (n == cap) {
      size_t c = cap > 0 ? cap * 2 : 16;
      pe_process_t *l = realloc(list, c * sizeof(*l));
      if (l == NULL) {
        status = -ENOMEM;
        break;
      }
      list = l;
      cap = c;
    }
    memcpy(list[n].uuid, uuid, sizeof(uuid));
    list[n].pid = pid;
    n++;
  }
  free(buf);
  closedir(dir);
  if (status != 0) {
    free(list);
    return status;
  }
  *ret = list;
  *ret_n = n;
  return 0;
}

int pe_find(const pe_process_t *list, size_t n, const char *uuid,
            int *ret_pid) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(list[i].uuid, uuid) == 0) {
      *ret_pid = list[i].pid;
      return 0;
    }
  return -ENOENT;
}

/* Fields 3.. of a stat line (after "pid (comm) "), and comm in *ret_comm
 * (cut to comm_cap). NULL if it does not parse. */
static const char *stat_fields(char *buf, char *ret_comm, size_t comm_cap) {
  char *open_paren = strchr(buf, '(');
  char *close_paren = strrchr(buf, ')');
  if (open_paren == NULL || close_paren == NULL || close_paren < open_paren ||
      close_paren[1] != ' ')
    return NULL;
  if (ret_comm != NULL) {
    size_t len = (size_t)(close_paren - open_paren - 1);
    if (len >= comm_cap)
      len = comm_cap - 1;
    memcpy(ret_comm, open_paren + 1, len);
    ret_comm[len] = '\0';
  }
  return close_paren + 2;
}

/* Field k (1-based, k >= 3) of a stat line as u64. */
static bool stat_u64(const char *fields, int k, uint64_t *ret) {
  const char *p = fields;
  for (int i = 3; i < k; i++) {
    p = strchr(p, ' ');
    if (p == NULL)
      return false;
    p++;
  }
  if (!isdigit((unsigned char)*p))
    return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(p, &end, 10);
  if (errno != 0 || (*end != ' ' && *end != '\n' && *end != '\0'))
    return false;
  *ret = (uint64_t)v;
  return true;
}

int pe_identity(const char *proc_root, int pid, uint64_t *ret) {
  char path[PATH_MAX], buf[1024];
  if (snprintf(path, sizeof(path), "%s/%d/stat", proc_root, pid) >=
      (int)sizeof(path))
    return -ENAMETOOLONG;
  ssize_t len = read_small(path, buf, sizeof(buf));
  if (len < 0)
    return (int)len == -ENOENT || (int)len == -ESRCH ? -ENOENT : (int)len;
  const char *f = stat_fields(buf, NULL, 0);
  uint64_t start;
  if (f == NULL || !stat_u64(f, 22, &start) || start > (UINT64_MAX >> 23))
    return -EINVAL;
  /* pid_max is at most 2^22. */
  *ret = (start << 23) | (UINT64_C(1) << 22) | ((uint64_t)pid & 0x3fffff);
  return 0;
}

static bool is_vcpu_thread(const char *comm) {
  /* "CPU 0/KVM", "CPU 1/TCG", "ALL CPUs/TCG" */
  return (strncmp(comm, "CPU ", 4) == 0 || strncmp(comm, "ALL CPUs", 8) == 0) &&
         strchr(comm, '/') != NULL;
}

int pe_vcpu_ns(const char *proc_root, int pid, uint64_t *ret) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof(path), "%s/%d/task", proc_root, pid) >=
      (int)sizeof(path))
    return -ENAMETOOLONG;
  DIR *dir = opendir(path);
  if (dir == NULL)
    return -ENOENT;
  long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0)
    hz = 100;
  uint64_t ticks = 0;
  int found = 0;
  struct dirent *de;
  while ((de = readdir(dir)) != NULL) {
    int tid;
    if (!parse_pid(de->d_name, &tid))
      continue;
    char tpath[PATH_MAX], buf[1024], comm[64];
    if (snprintf(tpath, sizeof(tpath), "%s/%d/stat", path, tid) >=
        (int)sizeof(tpath))
      continue;
    if (read_small(tpath, buf, sizeof(buf)) <= 0)
      continue;
    const char *f = stat_fields(buf, comm, sizeof(comm));
    uint64_t utime, stime;
    if (f == NULL || !is_vcpu_thread(comm) || !stat_u64(f, 14, &utime) ||
        !stat_u64(f, 15, &stime))
      continue;
    ticks += utime + stime;
    found++;
  }
  closedir(dir);
  if (found == 0)
    return -ENOENT;
  *ret = ticks * (UINT64_C(1000000000) / (uint64_t)hz);
  return 0;
}
