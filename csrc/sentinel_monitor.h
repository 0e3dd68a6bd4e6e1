/* The Sentinel monitor: the Monitor type and its loop (sentinel_monitor.c). It keeps
 * a subscription on every Sentinel's event channels and re-checks each service's
 * master, and changes the shared per-service state (sentinel_service.h) that pools
 * and connections follow. */
#ifndef SF_SENTINEL_MONITOR_H
#define SF_SENTINEL_MONITOR_H

#include "sentinel_service.h"

extern PyType_Spec sf_monitor_spec;

#endif
