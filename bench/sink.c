/* sink: receives collectd's network protocol on a loopback UDP port and
 * reports, per read cycle of the sending daemon, how many value lists and
 * values arrived and when they were dispatched.
 *
 *   sink -p PORT -o CYCLES_FILE [-f PIDFILE] [-l LIBVIRTD_PID]
 *        [-s SHAPE_FILE -i PLUGIN_INSTANCE]
 *
 * A cycle ends where an identifier (host/plugin-instance/type-instance)
 * comes again: every identifier is dispatched once per read. At that
 * moment the sink reads the CPU time of the sending collectd (its pid from
 * PIDFILE) and of libvirtd, and appends (and flushes) one line to
 * CYCLES_FILE:
 *
 *   index t_first t_last value_lists values duration_read drops
 *         read_ns write_ns other_ns collectd_ticks libvirtd_ns libvirtd_ticks
 *
 * t_first, t_last: the dispatch times (vl.time, set by collectd in
 * plugin_dispatch_values) of the first and last value list of the cycle;
 * duration_read: the value of virt_inspector's own duration-read in that
 * cycle (-1 if none); drops: datagrams the kernel dropped so far
 * (SO_RXQ_OVFL; non-zero makes the counts wrong). The CPU figures are
 * cumulative (see cpu.h): collectd's threads by name (reader#N, writer#N,
 * the rest) in ns, its utime+stime in clock ticks, and libvirtd's. The
 * difference between two lines is the CPU of exactly the reads between
 * them: both are taken at the same point of a read (the first repeated
 * identifier), within microseconds.
 *
 * With -s, the value lists of cycle 1 (the second) whose plugin instance is
 * PLUGIN_INSTANCE or empty are written to SHAPE_FILE as
 * "plugin_instance type type_instance dstypes" ("-" for empty), dstypes one
 * letter per value (c counter, g gauge, d derive, a absolute): the shape a
 * trivial plugin must reproduce. Runs until SIGTERM/SIGINT.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cpu.h"

#define TYPE_HOST 0x0000
#define TYPE_TIME 0x0001
#define TYPE_PLUGIN 0x0002
#define TYPE_PLUGIN_INSTANCE 0x0003
#define TYPE_TYPE 0x0004
#define TYPE_TYPE_INSTANCE 0x0005
#define TYPE_VALUES 0x0006
#define TYPE_TIME_HR 0x0008

#define TABLE_BITS 21
#define TABLE_SIZE (1u << TABLE_BITS)

typedef struct {
  uint64_t hash; /* 0: empty */
  uint32_t cycle;
} slot_t;

static slot_t *table;
static volatile sig_atomic_t stop;

static uint32_t cycle; /* current cycle index */
static double c_first = -1, c_last;
static uint64_t c_vl, c_values;
static double c_dread = -1;
static uint32_t drops;
static FILE *out, *shape;
static const char *shape_pi;
static const char *pid_file;
static int collectd_pid, libvirtd_pid;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static uint64_t fnv(uint64_t h, const char *s) {
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return (h ^ 0xff) * 1099511628211ULL; /* field separator */
}

/* Returns the slot of hash (inserting it). */
static slot_t *lookup(uint64_t h) {
  if (h == 0)
    h = 1;
  uint32_t i = (uint32_t)(h >> (64 - TABLE_BITS));
  for (;;) {
    slot_t *s = &table[i];
    if (s->hash == h)
      return s;
    if (s->hash == 0) {
      s->hash = h;
      s->cycle = UINT32_MAX;
      return s;
    }
    i = (i + 1) & (TABLE_SIZE - 1);
  }
}

static void end_cycle(void) {
  if (collectd_pid <= 0 && pid_file != NULL) {
    FILE *fh = fopen(pid_file, "r");
    if (fh != NULL) {
      if (fscanf(fh, "%d", &collectd_pid) != 1)
        collectd_pid = 0;
      fclose(fh);
    }
  }
  cpu_classes_t cd = {{0}};
  unsigned long long cd_ticks = 0, lv_ns = 0, lv_ticks = 0;
  if (collectd_pid > 0) {
    cpu_by_thread_class(collectd_pid, &cd);
    cd_ticks = cpu_ticks(collectd_pid);
  }
  if (libvirtd_pid > 0) {
    lv_ns = cpu_ns(libvirtd_pid);
    lv_ticks = cpu_ticks(libvirtd_pid);
  }
  if (c_vl > 0)
    fprintf(out,
            "%u %.6f %.6f %llu %llu %.6f %u %llu %llu %llu %llu %llu %llu\n",
            cycle, c_first, c_last, (unsigned long long)c_vl,
            (unsigned long long)c_values, c_dread, drops, cd.ns[0], cd.ns[1],
            cd.ns[2], cd_ticks, lv_ns, lv_ticks);
  fflush(out);
  cycle++;
  c_first = -1;
  c_vl = c_values = 0;
  c_dread = -1;
}

typedef struct {
  char host[128], plugin[128], pi[128], type[128], ti[128];
  double time;
} ident_t;

static void value_list(const ident_t *id, const uint8_t *types, int n,
                       const uint8_t *vals) {
  uint64_t h = 1469598103934665603ULL;
  h = fnv(h, id->host);
  h = fnv(h, id->plugin);
  h = fnv(h, id->pi);
  h = fnv(h, id->type);
  h = fnv(h, id->ti);
  slot_t *s = lookup(h);
  if (s->cycle == cycle)
    end_cycle();
  s->cycle = cycle;
  if (c_first < 0)
    c_first = id->time;
  c_last = id->time;
  c_vl++;
  c_values += (uint64_t)n;
  if (n == 1 && types[0] == 1 && strcmp(id->plugin, "virt_inspector") == 0 &&
      id->pi[0] == 0 && strcmp(id->type, "duration") == 0 &&
      strcmp(id->ti, "read") == 0) {
    double d;
    memcpy(&d, vals, 8); /* gauges are little-endian doubles */
    c_dread = d;
  }
  if (shape != NULL && cycle == 1 &&
      (id->pi[0] == 0 || strcmp(id->pi, shape_pi) == 0)) {
    char dst[64];
    int k;
    for (k = 0; k < n && k < 63; k++)
      dst[k] = "cgda"[types[k] & 3];
    dst[k] = 0;
    fprintf(shape, "%s %s %s %s %s\n", id->plugin, id->pi[0] ? id->pi : "-",
            id->type, id->ti[0] ? id->ti : "-", dst);
  }
  if (shape != NULL && cycle == 2) {
    fclose(shape);
    shape = NULL;
  }
}

static void copy_str(char *dst, size_t size, const uint8_t *p, size_t len) {
  if (len >= size)
    len = size - 1;
  memcpy(dst, p, len);
  dst[len] = 0;
  /* the protocol's strings include their terminating NUL */
  dst[strnlen(dst, len)] = 0;
}

static uint64_t be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

static void parse(const uint8_t *buf, size_t len) {
  ident_t id = {.time = 0};
  size_t off = 0;
  while (off + 4 <= len) {
    uint16_t type = (uint16_t)(buf[off] << 8 | buf[off + 1]);
    uint16_t plen = (uint16_t)(buf[off + 2] << 8 | buf[off + 3]);
    if (plen < 4 || off + plen > len)
      return;
    const uint8_t *p = buf + off + 4;
    size_t n = plen - 4;
    switch (type) {
    case TYPE_HOST:
      copy_str(id.host, sizeof(id.host), p, n);
      break;
    case TYPE_PLUGIN:
      copy_str(id.plugin, sizeof(id.plugin), p, n);
      break;
    case TYPE_PLUGIN_INSTANCE:
      copy_str(id.pi, sizeof(id.pi), p, n);
      break;
    case TYPE_TYPE:
      copy_str(id.type, sizeof(id.type), p, n);
      break;
    case TYPE_TYPE_INSTANCE:
      copy_str(id.ti, sizeof(id.ti), p, n);
      break;
    case TYPE_TIME:
      if (n == 8)
        id.time = (double)be64(p);
      break;
    case TYPE_TIME_HR:
      if (n == 8)
        id.time = (double)be64(p) / 1073741824.0; /* 2^-30 s units */
      break;
    case TYPE_VALUES:
      if (n >= 2) {
        int nv = p[0] << 8 | p[1];
        if ((size_t)(2 + nv * 9) <= n)
          value_list(&id, p + 2, nv, p + 2 + nv);
      }
      break;
    default:
      break;
    }
    off += plen;
  }
}

int main(int argc, char **argv) {
  int port = 25826, opt;
  const char *out_path = NULL, *shape_path = NULL;
  while ((opt = getopt(argc, argv, "p:o:s:i:f:l:")) != -1) {
    switch (opt) {
    case 'f':
      pid_file = optarg;
      break;
    case 'l':
      libvirtd_pid = atoi(optarg);
      break;
    case 'p':
      port = atoi(optarg);
      break;
    case 'o':
      out_path = optarg;
      break;
    case 's':
      shape_path = optarg;
      break;
    case 'i':
      shape_pi = optarg;
      break;
    default:
      fprintf(stderr, "usage: sink -p PORT -o FILE [-s FILE -i PI]\n");
      return 2;
    }
  }
  if (out_path == NULL || (shape_path != NULL && shape_pi == NULL)) {
    fprintf(stderr, "usage: sink -p PORT -o FILE [-s FILE -i PI]\n");
    return 2;
  }
  out = fopen(out_path, "w");
  if (out == NULL) {
    perror(out_path);
    return 1;
  }
  if (shape_path != NULL && (shape = fopen(shape_path, "w")) == NULL) {
    perror(shape_path);
    return 1;
  }
  table = calloc(TABLE_SIZE, sizeof(*table));
  if (table == NULL)
    return 1;

  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int one = 1, rcvbuf = 64 << 20;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    perror("bind");
    return 1;
  }
  struct sigaction sact = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sact, NULL);
  sigaction(SIGINT, &sact, NULL);

  enum { BATCH = 64 };
  static uint8_t bufs[BATCH][65536];
  static char cbufs[BATCH][CMSG_SPACE(sizeof(uint32_t))];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  while (!stop) {
    for (int i = 0; i < BATCH; i++) {
      iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
      msgs[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i],
                                        .msg_iovlen = 1,
                                        .msg_control = cbufs[i],
                                        .msg_controllen = sizeof(cbufs[i])};
    }
    int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      perror("recvmmsg");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c != NULL;
           c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL)
          memcpy(&drops, CMSG_DATA(c), sizeof(drops));
      parse(bufs[i], msgs[i].msg_len);
    }
  }
  if (shape != NULL)
    fclose(shape);
  fprintf(out, "# end drops %u\n", drops);
  fclose(out);
  return 0;
}
