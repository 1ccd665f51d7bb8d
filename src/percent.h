/* percent.h: the one percent-encoder of the plugin (%XX, upper-case hex),
 * used by the identifier mapping (instance_name) and the state file
 * (state_store), each with its own set of bytes kept as they are.
 *
 * Header-only (static inline) so that every program compiling a user of it
 * (the plugin, the unit tests, the state-file fuzzer) needs no other file.
 * Pure C11.
 */
#ifndef PERCENT_H
#define PERCENT_H

#include <stdbool.h>
#include <stddef.h>

/* Encodes in[0..n) to out: a byte for which keep() is true is copied, any
 * other becomes %XX. Stops before the first byte whose encoding would not
 * fit in cap bytes (never cuts a %XX). Returns the bytes written (no NUL
 * added); *ret_all (may be NULL) says whether all of in was encoded. */
static inline size_t percent_encode(const char *in, size_t n,
                                    bool (*keep)(unsigned char c), char *out,
                                    size_t cap, bool *ret_all) {
  static const char hex[] = "0123456789ABCDEF";
  size_t len = 0, i = 0;
  for (; i < n; i++) {
    unsigned char c = (unsigned char)in[i];
    bool kept = keep(c);
    if (len + (kept ? 1 : 3) > cap)
      break;
    if (kept) {
      out[len++] = (char)c;
    } else {
      out[len++] = '%';
      out[len++] = hex[c >> 4];
      out[len++] = hex[c & 0x0f];
    }
  }
  if (ret_all != NULL)
    *ret_all = i == n;
  return len;
}

#endif
