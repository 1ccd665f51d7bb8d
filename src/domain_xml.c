/* domain_xml.c: see domain_xml.h. */
#include "domain_xml.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Finds the start tag "<name" (followed by space, '/' or '>') in
 * [from, end). */
static const char *find_tag(const char *from, const char *end,
                            const char *name) {
  size_t n = strlen(name);
  for (const char *p = from; p && p < end; p++) {
    p = memchr(p, '<', (size_t)(end - p));
    if (p == NULL)
      return NULL;
    if ((size_t)(end - p) > n + 1 && strncmp(p + 1, name, n) == 0 &&
        strchr(" \t\r\n/>", p[n + 1]) != NULL)
      return p;
  }
  return NULL;
}

/* End of the start tag beginning at tag ('>' position) or NULL. */
static const char *tag_end(const char *tag, const char *end) {
  char quote = 0;
  for (const char *p = tag; p < end; p++) {
    if (quote) {
      if (*p == quote)
        quote = 0;
    } else if (*p == '\'' || *p == '"') {
      quote = *p;
    } else if (*p == '>') {
      return p;
    }
  }
  return NULL;
}

/* Copies the value of attribute `attr` in the start tag [tag, gt) to buf.
 * Returns 1 if found, 0 if not, -EINVAL if too long. */
static int get_attr(const char *tag, const char *gt, const char *attr,
                    char *buf, size_t size) {
  size_t n = strlen(attr);
  char quote = 0;
  for (const char *p = tag; p < gt; p++) {
    if (quote) {
      if (*p == quote)
        quote = 0;
      continue;
    }
    if (*p == '\'' || *p == '"') {
      quote = *p;
      continue;
    }
    if (strchr(" \t\r\n", *p) == NULL || (size_t)(gt - p) <= n + 2 ||
        strncmp(p + 1, attr, n) != 0 || p[n + 1] != '=')
      continue;
    const char *v = p + n + 2;
    if (*v != '\'' && *v != '"')
      return -EINVAL;
    const char *close = memchr(v + 1, *v, (size_t)(gt - v - 1));
    if (close == NULL || (size_t)(close - v - 1) >= size)
      return -EINVAL;
    memcpy(buf, v + 1, (size_t)(close - v - 1));
    buf[close - v - 1] = '\0';
    return 1;
  }
  return 0;
}

int domain_xml_balloon(const char *xml, domain_balloon_t *ret) {
  ret->period_gates_stats = false;
  ret->has_balloon = false;
  ret->stats_period = 0;
  if (xml == NULL)
    return -EINVAL;
  const char *end = xml + strlen(xml);
  const char *domain = find_tag(xml, end, "domain");
  if (domain == NULL)
    return -EINVAL;
  const char *domain_gt = tag_end(domain, end);
  char type[16];
  if (domain_gt == NULL)
    return -EINVAL;
  if (get_attr(domain, domain_gt, "type", type, sizeof(type)) == 1)
    ret->period_gates_stats =
        strcmp(type, "qemu") == 0 || strcmp(type, "kvm") == 0;
  const char *devices = find_tag(xml, end, "devices");
  if (devices == NULL)
    return 0;
  const char *mb = find_tag(devices, end, "memballoon");
  if (mb == NULL)
    return 0;
  const char *gt = tag_end(mb, end);
  if (gt == NULL)
    return -EINVAL;

  char model[32];
  int found = get_attr(mb, gt, "model", model, sizeof(model));
  if (found < 0)
    return -EINVAL;
  if (found == 1 && strcmp(model, "none") == 0)
    return 0;
  ret->has_balloon = true;
  if (gt[-1] == '/') /* <memballoon .../>: no children */
    return 0;

  const char *close = strstr(gt, "</memballoon>");
  if (close == NULL)
    return -EINVAL;
  const char *stats = find_tag(gt, close, "stats");
  if (stats == NULL)
    return 0;
  const char *sgt = tag_end(stats, close);
  if (sgt == NULL)
    return -EINVAL;
  char period[24];
  found = get_attr(stats, sgt, "period", period, sizeof(period));
  if (found < 0)
    return -EINVAL;
  if (found == 0)
    return 0;
  char *endp = NULL;
  errno = 0;
  unsigned long v = strtoul(period, &endp, 10);
  if (errno != 0 || endp == period || *endp != '\0' || period[0] == '-' ||
      v > UINT_MAX)
    return -EINVAL;
  ret->stats_period = (unsigned)v;
  return 0;
}
