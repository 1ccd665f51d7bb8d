/* domholder: creates N running domains on libvirt's test driver over one
 * connection and keeps that connection open until stdin reaches EOF (the
 * test driver's state is reset when the last connection closes).
 *
 *   domholder URI N [PREFIX] [BALLOON]
 *
 * The test driver's own domain "test" is removed first. Domains are
 * PREFIX00001 ... (default prefix "bench-"), 256 MiB, with a
 * virtio balloon (BALLOON "virtio", the default) or none ("none"), and a
 * UUID made of the prefix's first byte and the index (the same domains
 * again after a libvirtd restart, as QEMU guests would be). Prints
 * "ready N" on stdout once every domain runs. Exit status 1 on failure.
 */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s URI N [PREFIX] [virtio|none]\n", argv[0]);
    return 2;
  }
  const char *uri = argv[1];
  int n = atoi(argv[2]);
  const char *prefix = argc > 3 ? argv[3] : "bench-";
  const char *balloon = argc > 4 ? argv[4] : "virtio";

  virConnectPtr conn = virConnectOpen(uri);
  if (conn == NULL) {
    fprintf(stderr, "domholder: cannot connect to %s: %s\n", uri,
            virGetLastErrorMessage());
    return 1;
  }
  /* The test driver starts with one domain, "test": remove it, so that
   * exactly N domains exist. */
  virDomainPtr test = virDomainLookupByName(conn, "test");
  if (test != NULL) {
    virDomainDestroy(test);
    virDomainUndefine(test);
    virDomainFree(test);
  }
  virResetLastError();

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 1; i <= n; i++) {
    char xml[512];
    snprintf(xml, sizeof(xml),
             "<domain type='test'><name>%s%05d</name>"
             "<uuid>%08x-0000-4000-8000-%012x</uuid>"
             "<memory>262144</memory><os><type>hvm</type></os>"
             "<devices><memballoon model='%s'/></devices></domain>",
             prefix, i, (unsigned)prefix[0], (unsigned)i, balloon);
    virDomainPtr dom = virDomainCreateXML(conn, xml, 0);
    if (dom == NULL) {
      fprintf(stderr, "domholder: creating domain %d: %s\n", i,
              virGetLastErrorMessage());
      return 1;
    }
    virDomainFree(dom);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("ready %d %.3f\n", n,
         (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof(buf)) > 0)
    ;
  virConnectClose(conn);
  return 0;
}
