/* domain_filter.h: which domains to read, from the Domain/IgnoreSelected
 * options.
 *
 * An entry is an exact domain name, or a POSIX extended regular expression
 * written between slashes ("/^web-/"). With no entries every domain is
 * selected; otherwise a domain is selected when it matches an entry, or,
 * inverted (IgnoreSelected true), when it matches none. Pure C11.
 */
#ifndef DOMAIN_FILTER_H
#define DOMAIN_FILTER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct domain_filter domain_filter_t;

/* NULL on allocation failure. */
domain_filter_t *domain_filter_create(void);
/* Accepts NULL. */
void domain_filter_destroy(domain_filter_t *f);

/* Adds one entry. Returns 0; -EINVAL for an empty entry or a regex that
 * does not compile (its error text is written to err); -ENOMEM. */
int domain_filter_add(domain_filter_t *f, const char *entry, char *err,
                      size_t err_size);

void domain_filter_set_invert(domain_filter_t *f, bool invert);

bool domain_filter_selects(const domain_filter_t *f, const char *name);

#endif
