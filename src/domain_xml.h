/* domain_xml.h: what the plugin needs from a domain's XML description: the
 * memory balloon device and its statistics period.
 *
 * libvirt formats domain XML itself, so this reads only the <memballoon>
 * element of <devices> (first one), with either quote style, and nothing
 * else. Pure C11.
 */
#ifndef DOMAIN_XML_H
#define DOMAIN_XML_H

#include <stdbool.h>

typedef struct {
  bool has_balloon;        /* a <memballoon> whose model is not 'none' */
  unsigned stats_period;   /* <stats period='N'/>, seconds; 0 when absent */
  bool period_gates_stats; /* QEMU/KVM (<domain type='qemu|kvm'>): the guest
                              sends fresh statistics only with a period > 0 */
} domain_balloon_t;

/* Parses xml. Returns 0 (a domain without a balloon is not an error) or
 * -EINVAL when the XML is not a domain or the period is not a number. */
int domain_xml_balloon(const char *xml, domain_balloon_t *ret);

#endif
