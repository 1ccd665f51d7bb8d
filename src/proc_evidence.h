/* proc_evidence.h: evidence of a local QEMU domain's continuity, read from
 * /proc: which process runs it (found by the "-uuid UUID" libvirt puts on
 * QEMU's command line), that process's identity (pid and start time: a pid
 * alone is reused) and the CPU time of its vCPU threads (threads named
 * "CPU n/KVM", "CPU n/TCG", "ALL CPUs/TCG").
 *
 * Plain C11 + POSIX file reads: no libvirt, no collectd, no logging. Every
 * function takes the proc root ("/proc"; tests pass a directory of their
 * own) and returns 0 or -errno. Only meaningful for a hypervisor on this
 * host, in this pid namespace (the caller decides: a local qemu URI).
 */
#ifndef PROC_EVIDENCE_H
#define PROC_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  char uuid[37]; /* lower-case, as libvirt prints it */
  int pid;
} pe_process_t;

/* Every process of proc_root whose command line has "-uuid" followed by a
 * uuid. *ret (free() it) holds *ret_n entries. 0, -ENOMEM, or -errno of
 * opening proc_root. Processes that vanish mid-scan are skipped. */
int pe_scan(const char *proc_root, pe_process_t **ret, size_t *ret_n);

/* The pid of uuid in a scan's result; -ENOENT if absent. */
int pe_find(const pe_process_t *list, size_t n, const char *uuid, int *ret_pid);

/* A number that identifies process pid for this boot: its start time
 * (clock ticks since boot, /proc/PID/stat field 22) and pid combined;
 * never 0. -ENOENT when it is gone, -EINVAL if stat cannot be parsed. */
int pe_identity(const char *proc_root, int pid, uint64_t *ret);

/* CPU time (user + system, in ns, at clock-tick resolution) of pid's vCPU
 * threads. -ENOENT when pid is gone or has no vCPU thread. */
int pe_vcpu_ns(const char *proc_root, int pid, uint64_t *ret);

#endif
