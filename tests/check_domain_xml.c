/* Unit tests for domain_xml: <memballoon> and its stats period. */
#include "domain_xml.h"

#include "check_run.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define DOM(devices)                                                           \
  "<domain type='qemu'><name>x</name><devices>" devices "</devices></domain>"

static const struct {
  const char *what;
  const char *xml;
  int rc;
  bool has_balloon;
  unsigned period;
} cases[] = {
    {"no devices", "<domain type='test'><name>x</name></domain>", 0, false, 0},
    {"no balloon", DOM("<disk type='file'/>"), 0, false, 0},
    {"model none", DOM("<memballoon model='none'/>"), 0, false, 0},
    {"virtio, no stats", DOM("<memballoon model='virtio'/>"), 0, true, 0},
    {"virtio with address",
     DOM("<memballoon model='virtio'>\n  <address type='pci' slot='0x02'/>\n"
         "</memballoon>"),
     0, true, 0},
    {"period 1",
     DOM("<memballoon model='virtio'><stats period='1'/></memballoon>"), 0,
     true, 1},
    {"period 10, double quotes",
     DOM("<memballoon model=\"virtio\">\n <stats period=\"10\"/>\n"
         "</memballoon>"),
     0, true, 10},
    {"period 0",
     DOM("<memballoon model='virtio'><stats period='0'/>"
         "</memballoon>"),
     0, true, 0},
    {"stats after the balloon is not ours",
     DOM("<memballoon model='virtio'/><rng model='virtio'><stats period='5'/>"
         "</rng>"),
     0, true, 0},
    {"memballoonx is another tag", DOM("<memballoonx model='virtio'/>"), 0,
     false, 0},
    {"bad period",
     DOM("<memballoon model='virtio'><stats period='x'/>"
         "</memballoon>"),
     -EINVAL, true, 0},
    {"negative period",
     DOM("<memballoon model='virtio'><stats period='-1'/>"
         "</memballoon>"),
     -EINVAL, true, 0},
    {"unterminated", DOM("<memballoon model='virtio'><stats period='1'/>"),
     -EINVAL, true, 0},
    {"not a domain", "<network/>", -EINVAL, false, 0},
    {"empty", "", -EINVAL, false, 0},
};

START_TEST(test_table) {
  domain_balloon_t b = {.has_balloon = true, .stats_period = 99};
  int rc = domain_xml_balloon(cases[_i].xml, &b);
  ck_assert_msg(rc == cases[_i].rc, "%s: rc %d", cases[_i].what, rc);
  if (rc == 0) {
    ck_assert_msg(b.has_balloon == cases[_i].has_balloon, "%s", cases[_i].what);
    ck_assert_uint_eq(b.stats_period, cases[_i].period);
  }
}
END_TEST

/* Only QEMU/KVM refresh guest statistics by the stats period. */
START_TEST(test_period_gates_stats) {
  static const struct {
    const char *type;
    bool gates;
  } types[] = {{"qemu", true}, {"kvm", true}, {"test", false}, {"xen", false}};
  for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
    char xml[256];
    snprintf(xml, sizeof(xml),
             "<domain type='%s' id='3'><devices><memballoon model='virtio'/>"
             "</devices></domain>",
             types[i].type);
    domain_balloon_t b;
    ck_assert_int_eq(domain_xml_balloon(xml, &b), 0);
    ck_assert_msg(b.period_gates_stats == types[i].gates, "%s", types[i].type);
    ck_assert(b.has_balloon);
  }
  domain_balloon_t b;
  ck_assert_int_eq(domain_xml_balloon("<domain><devices/></domain>", &b), 0);
  ck_assert(!b.period_gates_stats);
}
END_TEST

START_TEST(test_null) {
  domain_balloon_t b;
  ck_assert_int_eq(domain_xml_balloon(NULL, &b), -EINVAL);
}
END_TEST

int main(void) {
  Suite *s = suite_create("domain_xml");
  TCase *tc = tcase_create("core");
  tcase_add_loop_test(tc, test_table, 0, sizeof(cases) / sizeof(cases[0]));
  tcase_add_test(tc, test_period_gates_stats);
  tcase_add_test(tc, test_null);
  suite_add_tcase(s, tc);
  return check_run(s);
}
