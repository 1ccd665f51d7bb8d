/* uuid_map.c: see uuid_map.h. */
#include "uuid_map.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS_MIN 64

/* FNV-1a; UUIDs are random enough for it. */
static size_t hash_uuid(const char *uuid) {
  uint64_t h = 14695981039346656037ULL;
  for (size_t i = 0; i < UUID_MAP_KEY_LEN; i++) {
    h ^= (unsigned char)uuid[i];
    h *= 1099511628211ULL;
  }
  return (size_t)(h ^ (h >> 32));
}

bool uuid_map_key_valid(const char *s, size_t n) {
  if (s == NULL || n != UUID_MAP_KEY_LEN)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-')
        return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

int uuid_map_init(uuid_map_t *m) {
  m->buckets = calloc(BUCKETS_MIN, sizeof(*m->buckets));
  m->nbuckets = m->buckets != NULL ? BUCKETS_MIN : 0;
  m->count = 0;
  return m->buckets != NULL ? 0 : -ENOMEM;
}

void uuid_map_destroy(uuid_map_t *m, void (*free_node)(uuid_map_node_t *)) {
  for (size_t i = 0; i < m->nbuckets; i++) {
    uuid_map_node_t *n = m->buckets[i];
    while (n != NULL) {
      uuid_map_node_t *next = n->next;
      if (free_node != NULL)
        free_node(n);
      n = next;
    }
  }
  free(m->buckets);
  m->buckets = NULL;
  m->nbuckets = 0;
  m->count = 0;
}

uuid_map_node_t *uuid_map_find(const uuid_map_t *m, const char *uuid) {
  if (m->nbuckets == 0)
    return NULL;
  uuid_map_node_t *n = m->buckets[hash_uuid(uuid) & (m->nbuckets - 1)];
  while (n != NULL && memcmp(n->uuid, uuid, UUID_MAP_KEY_LEN) != 0)
    n = n->next;
  return n;
}

/* Keeps the load at most 1 when memory allows. */
static void maybe_grow(uuid_map_t *m) {
  if (m->count < m->nbuckets || m->nbuckets > SIZE_MAX / 2 / sizeof(void *))
    return;
  size_t size = m->nbuckets * 2;
  uuid_map_node_t **b = calloc(size, sizeof(*b));
  if (b == NULL)
    return;
  for (size_t i = 0; i < m->nbuckets; i++) {
    uuid_map_node_t *n = m->buckets[i];
    while (n != NULL) {
      uuid_map_node_t *next = n->next;
      size_t h = hash_uuid(n->uuid) & (size - 1);
      n->next = b[h];
      b[h] = n;
      n = next;
    }
  }
  free(m->buckets);
  m->buckets = b;
  m->nbuckets = size;
}

void uuid_map_insert(uuid_map_t *m, uuid_map_node_t *node) {
  size_t h = hash_uuid(node->uuid) & (m->nbuckets - 1);
  node->next = m->buckets[h];
  m->buckets[h] = node;
  m->count++;
  maybe_grow(m);
}

int uuid_map_foreach(const uuid_map_t *m,
                     int (*fn)(uuid_map_node_t *node, void *user_data),
                     void *user_data) {
  for (size_t i = 0; i < m->nbuckets; i++)
    for (uuid_map_node_t *n = m->buckets[i]; n != NULL; n = n->next) {
      int status = fn(n, user_data);
      if (status != 0)
        return status;
    }
  return 0;
}

size_t uuid_map_remove_if(uuid_map_t *m,
                          bool (*drop)(uuid_map_node_t *node, void *user_data),
                          void *user_data,
                          void (*free_node)(uuid_map_node_t *node)) {
  size_t removed = 0;
  for (size_t i = 0; i < m->nbuckets; i++) {
    uuid_map_node_t **link = &m->buckets[i];
    while (*link != NULL) {
      uuid_map_node_t *n = *link;
      if (drop(n, user_data)) {
        *link = n->next;
        m->count--;
        removed++;
        if (free_node != NULL)
          free_node(n);
      } else {
        link = &n->next;
      }
    }
  }
  return removed;
}
