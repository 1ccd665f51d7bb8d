/* Unit tests for domain_xml: <memballoon> and its stats period, vCPUs,
 * memory, XPath values; XML that a tag search would misread. */
#include "domain_xml.h"

#include "check_run.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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
    {"balloon in a comment", DOM("<!-- <memballoon model='virtio'/> -->"), 0,
     false, 0},
    {"stats in a comment",
     DOM("<memballoon model='virtio'><!-- <stats period='5'/> -->"
         "</memballoon>"),
     0, true, 0},
    {"balloon in CDATA",
     "<domain type='qemu'><description><![CDATA[<devices><memballoon "
     "model='virtio'/></devices>]]></description><devices/></domain>",
     0, false, 0},
    {"balloon in another namespace",
     DOM("<x:memballoon xmlns:x='urn:x' model='virtio'><x:stats "
         "period='3'/></x:memballoon>"),
     0, false, 0},
    {"devices in metadata are not the devices",
     "<domain type='qemu'><metadata><devices><memballoon model='virtio'/>"
     "</devices></metadata></domain>",
     0, false, 0},
    {"character references",
     DOM("<memballoon model='virt&#105;o'><stats period='&#49;0'/>"
         "</memballoon>"),
     0, true, 10},
    {"model none by a reference", DOM("<memballoon model='&#110;one'/>"), 0,
     false, 0},
    {"'>' inside an attribute",
     DOM("<memballoon model='virtio' x='a>b'><stats period='4'/>"
         "</memballoon>"),
     0, true, 4},
    {"internal entity",
     "<!DOCTYPE domain [<!ENTITY p '7'>]><domain type='kvm'><devices>"
     "<memballoon model='virtio'><stats period='&p;'/></memballoon>"
     "</devices></domain>",
     0, true, 7},
    {"domain in a namespace", "<domain xmlns='urn:x'><devices/></domain>",
     -EINVAL, false, 0},
    {"trailing garbage", DOM("") "<x/>", -EINVAL, false, 0},
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
  domain_xml_free(NULL);
  domain_xml_path_free(NULL);
}
END_TEST

static domain_xml_t *parse(const char *xml) {
  domain_xml_t *d = NULL;
  ck_assert_int_eq(domain_xml_parse(xml, &d), 0);
  ck_assert_ptr_nonnull(d);
  return d;
}

START_TEST(test_vcpus) {
  static const struct {
    const char *xml;
    int rc;
    unsigned n;
  } c[] = {
      {"<domain><vcpu placement='static'>4</vcpu></domain>", 0, 4},
      {"<domain><vcpu current='1'>2</vcpu></domain>", 0, 1},
      {"<domain><vcpu current=\"3\">8</vcpu></domain>", 0, 3},
      {"<domain><!-- <vcpu>9</vcpu> --><vcpu>2</vcpu></domain>", 0, 2},
      {"<domain><metadata><vcpu>9</vcpu></metadata></domain>", -ENOENT, 0},
      {"<domain/>", -ENOENT, 0},
      {"<domain><vcpu>0</vcpu></domain>", -EINVAL, 0},
      {"<domain><vcpu>x</vcpu></domain>", -EINVAL, 0},
      {"<domain><vcpu>-1</vcpu></domain>", -EINVAL, 0},
  };
  for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
    domain_xml_t *d = parse(c[i].xml);
    unsigned n = 0;
    ck_assert_msg(domain_xml_vcpus(d, &n) == c[i].rc, "%s", c[i].xml);
    if (c[i].rc == 0)
      ck_assert_uint_eq(n, c[i].n);
    domain_xml_free(d);
  }
}
END_TEST

START_TEST(test_memory) {
  static const struct {
    const char *xml;
    int rc;
    uint64_t kib;
  } c[] = {
      {"<domain><memory unit='KiB'>1048576</memory></domain>", 0, 1048576},
      {"<domain><memory>2048</memory></domain>", 0, 2048},
      {"<domain><memory unit='GiB'>2</memory></domain>", 0, 2097152},
      {"<domain><memory unit='M'>3</memory></domain>", 0, 3072},
      {"<domain><memory unit='b'>1025</memory></domain>", 0, 2},
      {"<domain><memory unit='KB'>1024</memory></domain>", 0, 1000},
      {"<domain><memory unit='parsec'>1</memory></domain>", -EINVAL, 0},
      {"<domain><memory>lots</memory></domain>", -EINVAL, 0},
      {"<domain><memory unit='TiB'>99999999</memory></domain>", -EINVAL, 0},
      {"<domain><currentMemory>5</currentMemory></domain>", -ENOENT, 0},
  };
  for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
    domain_xml_t *d = parse(c[i].xml);
    uint64_t kib = 0;
    ck_assert_msg(domain_xml_memory_kib(d, &kib) == c[i].rc, "%s", c[i].xml);
    if (c[i].rc == 0)
      ck_assert_uint_eq(kib, c[i].kib);
    domain_xml_free(d);
  }
}
END_TEST

#define NOVA                                                                   \
  "<domain type='kvm'><name>instance-0001</name><metadata>"                    \
  "<nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'>"   \
  "<nova:flavor name='m1.small'><nova:memory>2048</nova:memory>"               \
  "</nova:flavor><nova:owner><nova:user uuid='u1'>d&amp;d</nova:user>"         \
  "</nova:owner><nova:name><![CDATA[a <b>]]></nova:name></nova:instance>"      \
  "<!-- <nova:flavor name='fake'/> -->"                                        \
  "</metadata><vcpu>2</vcpu></domain>"

#define FLAVOR                                                                 \
  "/domain/metadata/*[local-name()='instance']/*[local-name()='flavor']/@name"

START_TEST(test_xpath) {
  static const struct {
    const char *expr;
    int rc;
    const char *value;
  } c[] = {
      {FLAVOR, 0, "m1.small"},
      {"//*[local-name()='user']", 0, "d&d"},
      {"//*[local-name()='name' and namespace-uri()!='']", 0, "a <b>"},
      {"/domain/vcpu * 2", 0, "4"},
      {"count(//*[local-name()='flavor'])", 0, "1"},
      {"/domain/vcpu = 2", 0, "true"},
      {"/domain/metadata/*[local-name()='instance']/@missing", -ENOENT, ""},
      {"string(/domain/nothing)", -ENOENT, ""},
      {"/domain/name", 0, "instance-0001"},
      {"/domain/*[local-name()='flavor']", -ENOENT, ""},
  };
  domain_xml_t *d = parse(NOVA);
  for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
    domain_xml_path_t *p = NULL;
    ck_assert_msg(domain_xml_path_compile(c[i].expr, &p) == 0, "%s", c[i].expr);
    char buf[64] = "";
    int rc = domain_xml_path_eval(d, p, buf, sizeof(buf));
    ck_assert_msg(rc == c[i].rc, "%s: rc %d", c[i].expr, rc);
    if (rc == 0)
      ck_assert_str_eq(buf, c[i].value);
    domain_xml_path_free(p);
  }
  domain_xml_path_t *p = NULL;
  ck_assert_int_eq(domain_xml_path_compile(FLAVOR, &p), 0);
  char small[8];
  ck_assert_int_eq(domain_xml_path_eval(d, p, small, sizeof(small)), -E2BIG);
  char fits[9];
  ck_assert_int_eq(domain_xml_path_eval(d, p, fits, sizeof(fits)), 0);
  domain_xml_path_free(p);
  domain_xml_free(d);
}
END_TEST

/* Expressions refused when configured, and libxml2 prints nothing about
 * them or about bad XML (stderr is collectd's). */
START_TEST(test_errors_are_quiet) {
  char tmpl[] = "/tmp/check_domain_xml.XXXXXX";
  int fd = mkstemp(tmpl);
  ck_assert_int_ge(fd, 0);
  unlink(tmpl);
  fflush(stderr);
  int saved = dup(2);
  ck_assert_int_ge(saved, 0);
  ck_assert_int_eq(dup2(fd, 2), 2);

  static const char *const bad[] = {
      "/domain/[",
      "",
      "unknown-function(/domain)",
      "/nova:instance/@x",
      "/domain/vcpu +",
      "$undefined",
      "//@*[",
  };
  int rcs[sizeof(bad) / sizeof(bad[0])];
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    domain_xml_path_t *p = (domain_xml_path_t *)1;
    rcs[i] = domain_xml_path_compile(bad[i], &p);
    if (rcs[i] == 0)
      domain_xml_path_free(p);
  }
  static const char *const bad_xml[] = {
      "<domain>",
      "<domain><a></b></domain>",
      "not xml",
      "<?xml version='1.0'?><domain><x y='1' y='2'/></domain>",
      /* the external subset is not fetched (XML_PARSE_NONET, no DTD
       * loading), and an entity it would declare is then only a warning */
      "<!DOCTYPE domain SYSTEM 'http://127.0.0.1:9/x.dtd'><domain>&ext;</domain>",
  };
  static const int xml_want[] = {-EINVAL, -EINVAL, -EINVAL, -EINVAL, 0};
  int xml_rcs[sizeof(bad_xml) / sizeof(bad_xml[0])];
  for (size_t i = 0; i < sizeof(bad_xml) / sizeof(bad_xml[0]); i++) {
    domain_xml_t *d = NULL;
    xml_rcs[i] = domain_xml_parse(bad_xml[i], &d);
    domain_xml_free(d);
  }
  fflush(stderr);
  ck_assert_int_eq(dup2(saved, 2), 2);
  close(saved);
  char spam[256] = "";
  ssize_t size = pread(fd, spam, sizeof(spam) - 1, 0);
  close(fd);

  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ck_assert_msg(rcs[i] == -EINVAL, "%s: rc %d", bad[i], rcs[i]);
  for (size_t i = 0; i < sizeof(bad_xml) / sizeof(bad_xml[0]); i++)
    ck_assert_msg(xml_rcs[i] == xml_want[i], "%s: rc %d", bad_xml[i],
                  xml_rcs[i]);
  ck_assert_msg(size == 0, "libxml2 wrote to stderr: %s", spam);
}
END_TEST

int main(void) {
  Suite *s = suite_create("domain_xml");
  TCase *tc = tcase_create("core");
  tcase_add_loop_test(tc, test_table, 0, sizeof(cases) / sizeof(cases[0]));
  tcase_add_test(tc, test_period_gates_stats);
  tcase_add_test(tc, test_null);
  tcase_add_test(tc, test_vcpus);
  tcase_add_test(tc, test_memory);
  tcase_add_test(tc, test_xpath);
  tcase_add_test(tc, test_errors_are_quiet);
  suite_add_tcase(s, tc);
  return check_run(s);
}
