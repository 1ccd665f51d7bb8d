/* uuid_map.h: a hash table of records keyed by a domain's UUID string.
 *
 * Intrusive: a record embeds a uuid_map_node_t as its first member and the
 * map links those nodes; it never allocates or frees records (the caller
 * passes a free function where nodes leave the map). O(1) lookups; the
 * bucket array doubles as the map grows (a failed grow only lengthens the
 * chains). Pure C11; not thread-safe.
 */
#ifndef UUID_MAP_H
#define UUID_MAP_H

#include <stdbool.h>
#include <stddef.h>

#define UUID_MAP_KEY_LEN 36

typedef struct uuid_map_node {
  struct uuid_map_node *next;
  char uuid[UUID_MAP_KEY_LEN + 1];
} uuid_map_node_t;

typedef struct {
  uuid_map_node_t **buckets;
  size_t nbuckets; /* a power of two */
  size_t count;
} uuid_map_t;

/* Whether s[0..n) is a key: a lower-case 8-4-4-4-12 UUID, as libvirt
 * prints it. */
bool uuid_map_key_valid(const char *s, size_t n);

/* 0 or -ENOMEM. */
int uuid_map_init(uuid_map_t *m);
/* Unlinks every node, passing it to free_node (may be NULL); frees the
 * buckets. The map can be initialised again. */
void uuid_map_destroy(uuid_map_t *m, void (*free_node)(uuid_map_node_t *));

/* The node with that UUID (compared over UUID_MAP_KEY_LEN bytes), or NULL. */
uuid_map_node_t *uuid_map_find(const uuid_map_t *m, const char *uuid);
/* Links a node whose uuid is set and not yet in the map. */
void uuid_map_insert(uuid_map_t *m, uuid_map_node_t *node);

/* Calls fn for every node, in no particular order; stops and returns fn's
 * value if it is non-zero, 0 otherwise. fn must not change the map. */
int uuid_map_foreach(const uuid_map_t *m,
                     int (*fn)(uuid_map_node_t *node, void *user_data),
                     void *user_data);

/* Unlinks every node for which drop returns true and passes it to
 * free_node. Returns how many were removed. */
size_t uuid_map_remove_if(uuid_map_t *m,
                          bool (*drop)(uuid_map_node_t *node, void *user_data),
                          void *user_data,
                          void (*free_node)(uuid_map_node_t *node));

#endif
