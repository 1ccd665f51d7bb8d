/* instance_name.c: see instance_name.h. */
#include "instance_name.h"
#include "percent.h"

#include <stdbool.h>
#include <string.h>

static bool is_kept(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

size_t instance_name_from_domain(const char *name, const char *uuid,
                                 char ret[INSTANCE_NAME_MAX + 1]) {
  bool all;
  size_t len =
      percent_encode(name, strlen(name), is_kept, ret, INSTANCE_NAME_MAX, &all);
  bool too_long = !all;

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
