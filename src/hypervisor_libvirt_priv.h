/* hypervisor_libvirt_priv.h: what hypervisor_libvirt.c exports for its unit
 * tests only (tests/check_hypervisor_libvirt.c). */
#ifndef HYPERVISOR_LIBVIRT_PRIV_H
#define HYPERVISOR_LIBVIRT_PRIV_H

/* libvirt's lifecycle event (type, detail) as the (state, reason) the
 * domain entered; -1 when the event is no state change (defined,
 * undefined, crashloaded). */
int hv_libvirt_event_state(int event, int detail, int *ret_reason);

#endif
