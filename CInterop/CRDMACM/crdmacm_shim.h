/* CRDMACM: librdmacm for Swift. Apt package: librdmacm-dev.
 * Nothing needs a shim yet beyond errno, which Swift reads unreliably across calls. */
#ifndef CRDMACM_SHIM_H
#define CRDMACM_SHIM_H
#include <rdma/rdma_cma.h>
#include <errno.h>

static inline int crdmacm_errno(void) { return errno; }

#endif
