/* domain_filter.c: see domain_filter.h. */
#include "domain_filter.h"

#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char *exact; /* NULL for a regex */
  regex_t re;
} filter_entry_t;

struct domain_filter {
  filter_entry_t *entries;
  size_t count;
  bool invert;
};

domain_filter_t *domain_filter_create(void) {
  return calloc(1, sizeof(domain_filter_t));
}

void domain_filter_destroy(domain_filter_t *f) {
  if (f == NULL)
    return;
  for (size_t i = 0; i < f->count; i++) {
    if (f->entries[i].exact != NULL)
      free(f->entries[i].exact);
    else
      regfree(&f->entries[i].re);
  }
  free(f->entries);
  free(f);
}

int domain_filter_add(domain_filter_t *f, const char *entry, char *err,
                      size_t err_size) {
  if (err != NULL && err_size > 0)
    err[0] = '\0';
  size_t len = strlen(entry);
  if (len == 0)
    return -EINVAL;

  filter_entry_t *grown =
      realloc(f->entries, (f->count + 1) * sizeof(*f->entries));
  if (grown == NULL)
    return -ENOMEM;
  f->entries = grown;
  filter_entry_t *e = &f->entries[f->count];
  memset(e, 0, sizeof(*e));

  if (len >= 2 && entry[0] == '/' && entry[len - 1] == '/') {
    char *pattern = strndup(entry + 1, len - 2);
    if (pattern == NULL)
      return -ENOMEM;
    int status = regcomp(&e->re, pattern, REG_EXTENDED | REG_NOSUB);
    free(pattern);
    if (status != 0) {
      if (err != NULL && err_size > 0)
        regerror(status, &e->re, err, err_size);
      return -EINVAL; /* regcomp frees what it took on failure */
    }
  } else {
    e->exact = strdup(entry);
    if (e->exact == NULL)
      return -ENOMEM;
  }
  f->count++;
  return 0;
}

void domain_filter_set_invert(domain_filter_t *f, bool invert) {
  f->invert = invert;
}

bool domain_filter_selects(const domain_filter_t *f, const char *name) {
  if (f == NULL || f->count == 0)
    return true;
  bool matched = false;
  for (size_t i = 0; i < f->count && !matched; i++) {
    const filter_entry_t *e = &f->entries[i];
    if (e->exact != NULL)
      matched = strcmp(e->exact, name) == 0;
    else
      matched = regexec(&e->re, name, 0, NULL, 0) == 0;
  }
  return matched != f->invert;
}
