/* instance_name.c: see instance_name.h. */
#include "instance_name.h"

#include <stdbool.h>
#include <string.h>

static bool is_kept(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

size_t instance_name_from_domain(const char *name, const char *uuid,
                                 char ret[INSTANCE_NAME_MAX + 1]) {
  static const char hex[] = "0123456789ABCDEF";
  size_t len = 0;
  bool too_long = false;

  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    size_t need = is_kept(*p) ? 1 : 3;
    if (len + need > INSTANCE_NAME_MAX) {
      too_long = true;
      break;
    }
    if (need == 1) {
      ret[len++] = (char)*p;
    } else {
      ret[len++] = '%';
      ret[len++] = hex[*p >> 4];
      ret[len++] = hex[*p & 0x0f];
    }
  }

  if (!too_long) {
    ret[len] = '\0';
    return len;
  }

  /* Keep at most INSTANCE_NAME_PREFIX_MAX bytes, not cutting a %XX. */
  len = INSTANCE_NAME_PREFIX_MAX;
  if (ret[len - 1] == '%')
    len -= 1;
  else if (len >= 2 && ret[len - 2] == '%')
    len -= 2;
  ret[len++] = '~';
  size_t ulen = strnlen(uuid, INSTANCE_NAME_MAX - len);
  memcpy(ret + len, uuid, ulen);
  len += ulen;
  ret[len] = '\0';
  return len;
}
