/* instance_name.h: a libvirt domain name -> a collectd identifier field.
 *
 * collectd identifiers are host/plugin-instance/type-instance, so a domain
 * name with '/' (or spaces, or bytes a tool may mangle) cannot be used as it
 * is, and collectdctl keeps only 63 bytes of a field. The mapping is
 * injective (two domains never share a field) and its result is plain
 * ASCII of at most INSTANCE_NAME_MAX bytes:
 *   - bytes in [A-Za-z0-9._-] are kept, every other byte becomes %XX
 *     (upper-case hex): "my vm" -> "my%20vm", "a/b" -> "a%2Fb";
 *   - a result longer than INSTANCE_NAME_MAX becomes its first bytes (at
 *     most 26, never cutting a %XX) + "~" + the domain's UUID. '~' never
 *     appears in an escaped name, and UUIDs are unique.
 * Pure C11.
 */
#ifndef INSTANCE_NAME_H
#define INSTANCE_NAME_H

#include <stddef.h>

#define INSTANCE_NAME_MAX 63
#define INSTANCE_NAME_PREFIX_MAX 26 /* 26 + "~" + 36-char UUID = 63 */

/* Writes the field for (name, uuid) to ret, which must hold
 * INSTANCE_NAME_MAX + 1 bytes. Returns its length. uuid is used only for
 * long names and must then be a 36-character string. */
size_t instance_name_from_domain(const char *name, const char *uuid,
                                 char ret[INSTANCE_NAME_MAX + 1]);

/* An attribute value (TimeBy) -> at most cap bytes of an identifier field
 * (ret holds cap + 1). The same escaping as above; a result longer than cap
 * becomes its first bytes (never cutting a %XX) + "~" + 16 hex digits of
 * the value's 64-bit FNV-1a hash. Injective but for hash collisions among
 * long values (negligible for the few values a domain keeps). Returns the
 * length; cap must be at least INSTANCE_VALUE_CAP_MIN. */
#define INSTANCE_VALUE_CAP_MIN 20
size_t instance_name_from_value(const char *value, size_t cap, char *ret);

#endif
