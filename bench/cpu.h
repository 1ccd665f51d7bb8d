/* cpu.h: CPU time of a process, for the benchmark helpers.
 *
 * cpu_ns: the process's CPU clock (clock_getcpuclockid + clock_gettime:
 * the kernel's sum_exec_runtime of every thread, user + system, in ns,
 * threads that exited included: the kernel adds theirs to the process when
 * they exit). cpu_by_thread_class: the split by thread name, from
 * /proc/PID/task/TID/schedstat of the threads alive at that moment; the
 * CPU of threads that exited is put in the "other" class, so that the
 * three classes always sum to cpu_ns. cpu_ticks: utime + stime from
 * /proc/PID/stat (clock ticks, exited threads included), the cross-check.
 * All return 0 when the process is gone.
 */
#ifndef BENCH_CPU_H
#define BENCH_CPU_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ns[0]: threads named reader#N (collectd's read threads, and threads they
 * created), ns[1]: writer#N, ns[2]: the rest (every other thread: main,
 * event loop, libvirt's, and every thread that exited). */
typedef struct {
  unsigned long long ns[3];
} cpu_classes_t;

static inline unsigned long long cpu_ns(int pid) {
  clockid_t clk;
  struct timespec ts;
  if (clock_getcpuclockid(pid, &clk) != 0 || clock_gettime(clk, &ts) != 0)
    return 0;
  return (unsigned long long)ts.tv_sec * 1000000000ull +
         (unsigned long long)ts.tv_nsec;
}

static inline void cpu_by_thread_class(int pid, cpu_classes_t *ret) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/task", pid);
  DIR *d = opendir(path);
  memset(ret, 0, sizeof(*ret));
  if (d == NULL)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char p[300], comm[32] = "";
    unsigned long long ns = 0;
    snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", pid, e->d_name);
    FILE *fh = fopen(p, "r");
    if (fh == NULL)
      continue;
    if (fscanf(fh, "%llu", &ns) != 1)
      ns = 0;
    fclose(fh);
    snprintf(p, sizeof(p), "/proc/%d/task/%s/comm", pid, e->d_name);
    if ((fh = fopen(p, "r")) != NULL) {
      if (fgets(comm, sizeof(comm), fh) == NULL)
        comm[0] = 0;
      fclose(fh);
    }
    int cls = strncmp(comm, "reader#", 7) == 0   ? 0
              : strncmp(comm, "writer#", 7) == 0 ? 1
                                                 : 2;
    ret->ns[cls] += ns;
  }
  closedir(d);
  /* exited threads: the process total minus the live threads */
  unsigned long long total = cpu_ns(pid);
  if (total > ret->ns[0] + ret->ns[1])
    ret->ns[2] = total - ret->ns[0] - ret->ns[1];
}

static inline unsigned long long cpu_ticks(int pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE *fh = fopen(path, "r");
  if (fh == NULL)
    return 0;
  size_t n = fread(buf, 1, sizeof(buf) - 1, fh);
  fclose(fh);
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* comm may contain spaces */
  unsigned long long ut = 0, st = 0;
  if (p == NULL || sscanf(p + 2,
                          "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
                          "%*u %llu %llu",
                          &ut, &st) != 2)
    return 0;
  return ut + st;
}

#endif
