/* Unit tests for uuid_map: the UUID-keyed table the tracker and the glue
 * share. */
#include "check_run.h"

#include "uuid_map.h"
#include <check.h>

#include <stdio.h>
#include <stdlib.h>

typedef struct {
  uuid_map_node_t node;
  int value;
} item_t;

static int freed;
static void free_item(uuid_map_node_t *n) {
  freed++;
  free(n);
}

static item_t *make(int i) {
  item_t *it = calloc(1, sizeof(*it));
  ck_assert_ptr_nonnull(it);
  snprintf(it->node.uuid, sizeof(it->node.uuid), "%08x-0000-4000-8000-%012x",
           (unsigned)i, (unsigned)i * 7u);
  it->value = i;
  return it;
}

static bool is_odd(uuid_map_node_t *n, void *user_data) {
  (void)user_data;
  return ((item_t *)n)->value % 2 != 0;
}

static int sum(uuid_map_node_t *n, void *user_data) {
  *(long *)user_data += ((item_t *)n)->value;
  return 0;
}

static int stop_at_7(uuid_map_node_t *n, void *user_data) {
  (void)user_data;
  return ((item_t *)n)->value == 7 ? 42 : 0;
}

START_TEST(test_insert_find_grow_remove) {
  enum { N = 10000 };
  uuid_map_t m;
  ck_assert_int_eq(uuid_map_init(&m), 0);
  ck_assert_ptr_null(uuid_map_find(&m, "00000000-0000-4000-8000-000000000000"));
  for (int i = 0; i < N; i++)
    uuid_map_insert(&m, &make(i)->node);
  ck_assert_uint_eq(m.count, N);
  ck_assert_uint_ge(m.nbuckets, N); /* grew: load at most 1 */
  for (int i = 0; i < N; i += 97) {
    item_t *probe = make(i);
    item_t *found = (item_t *)uuid_map_find(&m, probe->node.uuid);
    ck_assert_ptr_nonnull(found);
    ck_assert_int_eq(found->value, i);
    free(probe);
  }
  item_t *absent = make(N + 1);
  ck_assert_ptr_null(uuid_map_find(&m, absent->node.uuid));
  free(absent);

  long total = 0;
  ck_assert_int_eq(uuid_map_foreach(&m, sum, &total), 0);
  ck_assert_int_eq(total, (long)N * (N - 1) / 2);
  ck_assert_int_eq(uuid_map_foreach(&m, stop_at_7, NULL), 42);

  freed = 0;
  ck_assert_uint_eq(uuid_map_remove_if(&m, is_odd, NULL, free_item), N / 2);
  ck_assert_int_eq(freed, N / 2);
  ck_assert_uint_eq(m.count, N / 2);
  item_t *odd = make(3), *even = make(4);
  ck_assert_ptr_null(uuid_map_find(&m, odd->node.uuid));
  ck_assert_ptr_nonnull(uuid_map_find(&m, even->node.uuid));
  free(odd);
  free(even);

  freed = 0;
  uuid_map_destroy(&m, free_item);
  ck_assert_int_eq(freed, N / 2);
  ck_assert_uint_eq(m.count, 0);
  ck_assert_ptr_null(uuid_map_find(&m, "00000000-0000-4000-8000-000000000000"));
}
END_TEST

int main(void) {
  Suite *s = suite_create("uuid_map");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_insert_find_grow_remove);
  suite_add_tcase(s, tc);
  return check_run(s);
}
