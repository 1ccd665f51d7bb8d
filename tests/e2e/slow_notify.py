# tests/e2e/slow_notify.py -- a slow notification plugin for the e2e suites,
# loaded by collectd's own python plugin (tests/e2e/states.sh section 1).
# Its notification callback takes SLOW_NOTIFY_SECONDS (2 s) per
# notification, as a plugin that sends mail or calls a web hook may: the
# plugin under test must time every transition exactly all the same
# (issue 17: the next event was timed after the previous notification).
import time

import collectd

SECONDS = 2.0


def config(conf):
    global SECONDS
    for node in conf.children:
        if node.key == "Seconds":
            SECONDS = float(node.values[0])


def notify(n):
    time.sleep(SECONDS)
    collectd.info("slow_notify: %.1f s for a notification of %s/%s" % (SECONDS, n.plugin, n.plugin_instance))


collectd.register_config(config)
collectd.register_notification(notify)
