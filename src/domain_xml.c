/* domain_xml.c: see domain_xml.h. */
#include "domain_xml.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>

struct domain_xml {
  xmlDocPtr doc;
};

struct domain_xml_path {
  xmlXPathCompExprPtr comp;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_parser(void) { xmlInitParser(); }

/* libxml2's errors, dropped: the caller gets an error code. */
static void quiet(void *user_data, xmlErrorPtr error) {
  (void)user_data;
  (void)error;
}

static void quiet_generic(void *ctx, const char *msg, ...) {
  (void)ctx;
  (void)msg;
}

/* Some libxml2 paths (an unknown XPath function) print through the
 * "generic" handler, not the structured one. It is per thread: it is
 * swapped for quiet_generic around each call into libxml2 and put back. */
typedef struct {
  xmlGenericErrorFunc fn;
  void *ctx;
} generic_t;

static generic_t quiet_begin(void) {
  generic_t saved = {xmlGenericError, xmlGenericErrorContext};
  xmlSetGenericErrorFunc(NULL, quiet_generic);
  return saved;
}

static void quiet_end(generic_t saved) {
  xmlSetGenericErrorFunc(saved.ctx, saved.fn);
}

int domain_xml_parse(const char *xml, domain_xml_t **ret) {
  *ret = NULL;
  if (xml == NULL)
    return -EINVAL;
  size_t len = strlen(xml);
  if (len == 0 || len > INT_MAX)
    return -EINVAL;
  pthread_once(&init_once, init_parser);
  xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
  if (ctxt == NULL)
    return -ENOMEM;
  ctxt->sax->serror = quiet;
  generic_t saved = quiet_begin();
  xmlDocPtr doc = xmlCtxtReadMemory(ctxt, xml, (int)len, "domain.xml", NULL,
                                    XML_PARSE_NONET | XML_PARSE_NOERROR |
                                        XML_PARSE_NOWARNING);
  quiet_end(saved);
  bool oom = ctxt->lastError.code == XML_ERR_NO_MEMORY;
  xmlFreeParserCtxt(ctxt);
  if (doc == NULL)
    return oom ? -ENOMEM : -EINVAL;
  xmlNodePtr root = xmlDocGetRootElement(doc);
  if (root == NULL || root->ns != NULL ||
      !xmlStrEqual(root->name, BAD_CAST "domain")) {
    xmlFreeDoc(doc);
    return -EINVAL;
  }
  domain_xml_t *d = malloc(sizeof(*d));
  if (d == NULL) {
    xmlFreeDoc(doc);
    return -ENOMEM;
  }
  d->doc = doc;
  *ret = d;
  return 0;
}

void domain_xml_free(domain_xml_t *doc) {
  if (doc == NULL)
    return;
  xmlFreeDoc(doc->doc);
  free(doc);
}

/* An XPath context on doc whose errors are dropped. */
static xmlXPathContextPtr new_context(xmlDocPtr doc) {
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  if (ctx != NULL) {
    ctx->error = quiet;
    ctx->userData = NULL;
  }
  return ctx;
}

/* Evaluates expr (compiled or not) on doc. NULL on failure; *ret_oom says
 * whether it was for lack of memory. */
static xmlXPathObjectPtr eval(xmlDocPtr doc, xmlXPathCompExprPtr comp,
                              const char *expr, bool *ret_oom) {
  *ret_oom = false;
  xmlXPathContextPtr ctx = new_context(doc);
  if (ctx == NULL) {
    *ret_oom = true;
    return NULL;
  }
  generic_t saved = quiet_begin();
  xmlXPathObjectPtr res = comp != NULL
                              ? xmlXPathCompiledEval(comp, ctx)
                              : xmlXPathEvalExpression(BAD_CAST expr, ctx);
  quiet_end(saved);
  if (res == NULL && ctx->lastError.code == XML_ERR_NO_MEMORY)
    *ret_oom = true;
  xmlXPathFreeContext(ctx);
  return res;
}

/* The string value of res (see domain_xml_path_eval), newly allocated;
 * "" for an empty node-set. NULL when out of memory. */
static xmlChar *result_string(xmlXPathObjectPtr res) {
  if (res->type == XPATH_NODESET &&
      (res->nodesetval == NULL || res->nodesetval->nodeNr == 0))
    return xmlStrdup(BAD_CAST "");
  return xmlXPathCastToString(res);
}

/* The string value of a fixed expression on doc into buf: 0, -ENOENT (no
 * value), -E2BIG, -ENOMEM, -EINVAL. */
static int eval_string(xmlDocPtr doc, xmlXPathCompExprPtr comp,
                       const char *expr, char *buf, size_t size) {
  bool oom;
  xmlXPathObjectPtr res = eval(doc, comp, expr, &oom);
  if (res == NULL)
    return oom ? -ENOMEM : -EINVAL;
  xmlChar *s = result_string(res);
  xmlXPathFreeObject(res);
  if (s == NULL)
    return -ENOMEM;
  size_t n = strlen((const char *)s);
  int rc = 0;
  if (n == 0)
    rc = -ENOENT;
  else if (n >= size)
    rc = -E2BIG;
  else
    memcpy(buf, s, n + 1);
  xmlFree(s);
  return rc;
}

/* A decimal number without sign, spaces or trailing text. */
static int parse_u64(const char *s, uint64_t *ret) {
  if (s[0] < '0' || s[0] > '9')
    return -EINVAL;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0')
    return -EINVAL;
  *ret = v;
  return 0;
}

int domain_xml_get_balloon(const domain_xml_t *d, domain_balloon_t *ret) {
  ret->period_gates_stats = false;
  ret->has_balloon = false;
  ret->stats_period = 0;
  if (d == NULL)
    return -EINVAL;
  char buf[32];
  int rc = eval_string(d->doc, NULL, "/domain/@type", buf, sizeof(buf));
  if (rc == 0)
    ret->period_gates_stats =
        strcmp(buf, "qemu") == 0 || strcmp(buf, "kvm") == 0;
  else if (rc == -ENOMEM)
    return rc;

  rc = eval_string(d->doc, NULL,
                   "boolean(/domain/devices/memballoon[1]"
                   "[not(@model) or @model != 'none'])",
                   buf, sizeof(buf));
  if (rc != 0)
    return rc == -ENOMEM ? rc : -EINVAL;
  if (strcmp(buf, "true") != 0)
    return 0;
  ret->has_balloon = true;
  rc = eval_string(d->doc, NULL, "/domain/devices/memballoon[1]/stats/@period",
                   buf, sizeof(buf));
  if (rc == -ENOENT)
    return 0;
  if (rc == -ENOMEM)
    return rc;
  uint64_t v;
  if (rc != 0 || parse_u64(buf, &v) != 0 || v > UINT_MAX)
    return -EINVAL;
  ret->stats_period = (unsigned)v;
  return 0;
}

int domain_xml_balloon(const char *xml, domain_balloon_t *ret) {
  domain_xml_t *d = NULL;
  int rc = domain_xml_parse(xml, &d);
  if (rc != 0) {
    ret->period_gates_stats = false;
    ret->has_balloon = false;
    ret->stats_period = 0;
    return rc;
  }
  rc = domain_xml_get_balloon(d, ret);
  domain_xml_free(d);
  return rc;
}

int domain_xml_vcpus(const domain_xml_t *d, unsigned *ret) {
  char buf[32];
  int rc =
      eval_string(d->doc, NULL, "/domain/vcpu[1]/@current", buf, sizeof(buf));
  if (rc == -ENOENT)
    rc = eval_string(d->doc, NULL, "/domain/vcpu[1]", buf, sizeof(buf));
  if (rc == -E2BIG)
    return -EINVAL;
  if (rc != 0)
    return rc;
  uint64_t v;
  if (parse_u64(buf, &v) != 0 || v == 0 || v > UINT_MAX)
    return -EINVAL;
  *ret = (unsigned)v;
  return 0;
}

static const struct {
  const char *unit;
  uint64_t bytes;
} units[] = {
    {"b", 1},
    {"bytes", 1},
    {"KB", 1000},
    {"k", 1024},
    {"K", 1024},
    {"KiB", 1024},
    {"MB", 1000000},
    {"M", 1048576},
    {"MiB", 1048576},
    {"GB", 1000000000},
    {"G", 1073741824},
    {"GiB", 1073741824},
    {"TB", 1000000000000},
    {"T", 1099511627776},
    {"TiB", 1099511627776},
};

int domain_xml_memory_kib(const domain_xml_t *d, uint64_t *ret) {
  char buf[32], unit[16];
  int rc = eval_string(d->doc, NULL, "/domain/memory[1]", buf, sizeof(buf));
  if (rc == -E2BIG)
    return -EINVAL;
  if (rc != 0)
    return rc;
  uint64_t v, mult = 0;
  if (parse_u64(buf, &v) != 0)
    return -EINVAL;
  rc = eval_string(d->doc, NULL, "/domain/memory[1]/@unit", unit, sizeof(unit));
  if (rc == -ENOENT)
    mult = 1024;
  else if (rc == -ENOMEM)
    return rc;
  else if (rc == 0)
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
      if (strcmp(unit, units[i].unit) == 0)
        mult = units[i].bytes;
  if (mult == 0 || (v != 0 && mult > UINT64_MAX / v))
    return -EINVAL;
  uint64_t bytes = v * mult;
  *ret = bytes / 1024 + (bytes % 1024 != 0);
  return 0;
}

int domain_xml_path_compile(const char *expr, domain_xml_path_t **ret) {
  *ret = NULL;
  if (expr == NULL || expr[0] == '\0')
    return -EINVAL;
  pthread_once(&init_once, init_parser);
  xmlXPathContextPtr ctx = new_context(NULL);
  if (ctx == NULL)
    return -ENOMEM;
  generic_t saved = quiet_begin();
  xmlXPathCompExprPtr comp = xmlXPathCtxtCompile(ctx, BAD_CAST expr);
  quiet_end(saved);
  bool oom = ctx->lastError.code == XML_ERR_NO_MEMORY;
  xmlXPathFreeContext(ctx);
  if (comp == NULL)
    return oom ? -ENOMEM : -EINVAL;
  domain_xml_path_t *p = malloc(sizeof(*p));
  if (p == NULL) {
    xmlXPathFreeCompExpr(comp);
    return -ENOMEM;
  }
  p->comp = comp;

  /* A trial on the smallest domain: unknown functions and namespace
   * prefixes fail only when evaluated. */
  domain_xml_t *probe = NULL;
  int rc = domain_xml_parse("<domain/>", &probe);
  if (rc == 0) {
    char buf[8];
    rc = domain_xml_path_eval(probe, p, buf, sizeof(buf));
    if (rc == -ENOENT || rc == -E2BIG)
      rc = 0;
    domain_xml_free(probe);
  }
  if (rc != 0) {
    domain_xml_path_free(p);
    return rc;
  }
  *ret = p;
  return 0;
}

void domain_xml_path_free(domain_xml_path_t *path) {
  if (path == NULL)
    return;
  xmlXPathFreeCompExpr(path->comp);
  free(path);
}

int domain_xml_path_eval(const domain_xml_t *doc, const domain_xml_path_t *path,
                         char *buf, size_t size) {
  if (doc == NULL || path == NULL || size == 0)
    return -EINVAL;
  return eval_string(doc->doc, path->comp, NULL, buf, size);
}
