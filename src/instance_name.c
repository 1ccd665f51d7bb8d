/* instance_name.c: see instance_name.h. */
#include "instance_name.h"
#include "percent.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static bool is_kept(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* Cuts an encoding at most len bytes long so that no %XX is split. */
static size_t cut_escape(const char *enc, size_t len) {
  if (len >= 1 && enc[len - 1] == '%')
    return len - 1;
  if (len >= 2 && enc[len - 2] == '%')
    return len - 2;
  return len;
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
  len = cut_escape(ret, INSTANCE_NAME_PREFIX_MAX);
  ret[len++] = '~';
  size_t ulen = strnlen(uuid, INSTANCE_NAME_MAX - len);
  memcpy(ret + len, uuid, ulen);
  len += ulen;
  ret[len] = '\0';
  return len;
}

size_t instance_name_from_value(const char *value, size_t cap, char *ret) {
  size_t n = strlen(value);
  bool all;
  size_t len = percent_encode(value, n, is_kept, ret, cap, &all);
  if (!all) {
    uint64_t h = 14695981039346656037ULL; /* FNV-1a, 64 bits */
    for (size_t i = 0; i < n; i++) {
      h ^= (unsigned char)value[i];
      h *= 1099511628211ULL;
    }
    static const char hex[] = "0123456789abcdef";
    len = cut_escape(ret, cap - 17);
    ret[len++] = '~';
    for (int i = 60; i >= 0; i -= 4)
      ret[len++] = hex[(h >> i) & 0xf];
  }
  ret[len] = '\0';
  return len;
}
