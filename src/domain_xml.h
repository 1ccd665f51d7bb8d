/* domain_xml.h: what the plugin reads from a domain's XML description, with
 * libxml2 (XPath): the memory balloon device and its statistics period, the
 * current vCPU count, the maximum memory, and the value of any XPath
 * expression (TimeBy "<name>" "<xpath>").
 *
 * A document is parsed once (domain_xml_parse) and then queried. Comments,
 * CDATA sections, character and entity references, either quote style and
 * namespaced elements are read as XML says: a <memballoon> inside a
 * comment, a CDATA section or another namespace is not the balloon. The
 * parser never touches the network (XML_PARSE_NONET), substitutes no DTD
 * entities and prints nothing: its errors and those of XPath go to a
 * handler that drops them, per parse and per XPath context, so nothing
 * reaches collectd's stderr.
 *
 * libxml2 is initialised once (xmlInitParser, on first use) and never
 * cleaned up: xmlCleanupParser would free libxml2's global state under
 * the other users in collectd's process (collectd's virt plugin, libvirt).
 * Pure: no logging, no clock. A document or compiled expression is used by
 * one thread at a time.
 */
#ifndef DOMAIN_XML_H
#define DOMAIN_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  bool has_balloon;        /* a <memballoon> whose model is not 'none' */
  unsigned stats_period;   /* <stats period='N'/>, seconds; 0 when absent */
  bool period_gates_stats; /* QEMU/KVM (<domain type='qemu|kvm'>): the guest
                              sends fresh statistics only with a period > 0 */
} domain_balloon_t;

/* A parsed domain description. */
typedef struct domain_xml domain_xml_t;

/* Parses xml (NUL-terminated). 0 and *ret (free with domain_xml_free), or
 * -EINVAL when it is not well-formed XML or its root is not <domain>
 * (without a namespace), -ENOMEM. */
int domain_xml_parse(const char *xml, domain_xml_t **ret);
/* Accepts NULL. */
void domain_xml_free(domain_xml_t *doc);

/* The first <memballoon> of /domain/devices. Returns 0 (a domain without a
 * balloon is not an error) or -EINVAL when the period is not a number. */
int domain_xml_get_balloon(const domain_xml_t *doc, domain_balloon_t *ret);
/* domain_xml_parse + domain_xml_get_balloon. */
int domain_xml_balloon(const char *xml, domain_balloon_t *ret);

/* The current vCPU count: /domain/vcpu/@current, else /domain/vcpu. 0,
 * -ENOENT (no <vcpu>) or -EINVAL (not a positive number). */
int domain_xml_vcpus(const domain_xml_t *doc, unsigned *ret);
/* The maximum memory, /domain/memory (with its unit, libvirt's: b, bytes,
 * KB, k, KiB, MB, M, MiB, GB, G, GiB, TB, T, TiB; none is KiB) in KiB,
 * rounded up. 0, -ENOENT or -EINVAL. */
int domain_xml_memory_kib(const domain_xml_t *doc, uint64_t *ret);

/* A compiled XPath expression (XPath 1.0, libxml2). */
typedef struct domain_xml_path domain_xml_path_t;

/* Compiles expr and evaluates it once on "<domain/>", so that an
 * expression that cannot be evaluated (an unknown function or namespace
 * prefix) is refused here, not at every read. 0 and *ret (free with
 * domain_xml_path_free), -EINVAL, or -ENOMEM. */
int domain_xml_path_compile(const char *expr, domain_xml_path_t **ret);
/* Accepts NULL. */
void domain_xml_path_free(domain_xml_path_t *path);

/* Evaluates path on doc and writes its value as a string to buf (size
 * bytes, NUL included): a node-set gives the string value of its first
 * node in document order, a number or boolean XPath's string form.
 * 0, -ENOENT when there is no value (an empty node-set or an empty
 * string), -E2BIG when the value needs more than size bytes (buf then
 * holds nothing), -EINVAL when the evaluation fails, -ENOMEM. */
int domain_xml_path_eval(const domain_xml_t *doc, const domain_xml_path_t *path,
                         char *buf, size_t size);

#endif
