/* collectd_stub.h: a stand-in for the collectd daemon symbols the glue
 * links against (dispatch, notifications, logging, registration,
 * cf_util_get_*, c_complain, ...), recording what the glue does so that a
 * test can check it. collectd's headers are real; its symbols are these.
 * Thread-safe (the glue's event callback may run on another thread).
 */
#ifndef COLLECTD_STUB_H
#define COLLECTD_STUB_H

#include "collectd.h"

#include "liboconfig/oconfig.h"
#include "plugin.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
  char host[DATA_MAX_NAME_LEN];
  char plugin[DATA_MAX_NAME_LEN];
  char plugin_instance[DATA_MAX_NAME_LEN];
  char type[DATA_MAX_NAME_LEN];
  char type_instance[DATA_MAX_NAME_LEN];
  value_t values[2];
  size_t values_len;
} stub_value_t;

typedef struct {
  int severity;
  char host[DATA_MAX_NAME_LEN];
  char plugin_instance[DATA_MAX_NAME_LEN];
  char type[DATA_MAX_NAME_LEN];
  char message[NOTIF_MAX_MSG_LEN];
  int nmeta;
  char meta[8][2][64]; /* name, value as text */
} stub_notification_t;

/* Forgets what was recorded (not the registrations). */
void stub_clear(void);
/* Forgets the values only (the log stays). */
void stub_clear_values(void);

size_t stub_value_count(void);
/* The last value list dispatched with that identifier (host "" is
 * collectd's Hostname; NULL type_instance matches ""), or NULL. */
const stub_value_t *stub_value(const char *host, const char *plugin_instance,
                               const char *type, const char *type_instance);
/* The i-th value list dispatched since the last clear (a copy), in the
 * order of dispatch: false past the last. */
bool stub_value_at(size_t i, stub_value_t *out);
/* How many were dispatched with that plugin instance. */
size_t stub_value_count_for(const char *plugin_instance);

size_t stub_notification_count(void);
/* Called (unlocked) at the start of every plugin_dispatch_notification, as
 * a notification plugin would be: a slow one can be simulated. NULL: none. */
void stub_set_notification_hook(void (*fn)(void));
const stub_notification_t *stub_notification(size_t i);
/* A meta value of a notification as text, or NULL. */
const char *stub_notification_meta(const stub_notification_t *n,
                                   const char *name);

/* Log lines at `level` (-1: any) containing `text`. */
int stub_log_count(int level, const char *text);
/* Prints the recorded log (for failing tests). */
void stub_log_dump(void);

/* The registered callbacks, called as collectd would. */
int stub_config(oconfig_item_t *ci);
int stub_init(void);
int stub_read(void);
int stub_shutdown(void);

/* collectd's BaseDir for global_option_get (NULL: unset). */
void stub_set_basedir(const char *dir);

/* Builds a <Plugin> block: stub_block_add(b, "Key", value) with a string
 * (STR), number (NUM) or boolean (BOOL) value. Free with stub_block_free. */
oconfig_item_t *stub_block_new(void);
void stub_block_add_string(oconfig_item_t *b, const char *key,
                           const char *value);
/* An option with two strings (TimeBy "name" "xpath"). */
void stub_block_add_strings(oconfig_item_t *b, const char *key,
                            const char *value1, const char *value2);
void stub_block_add_number(oconfig_item_t *b, const char *key, double value);
void stub_block_add_boolean(oconfig_item_t *b, const char *key, bool value);
void stub_block_free(oconfig_item_t *b);

#endif
