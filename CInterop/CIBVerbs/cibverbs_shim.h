/* CIBVerbs: libibverbs for Swift. Apt package: libibverbs-dev.
 *
 * verbs.h defines several entry points as function-like macros over static inline
 * helpers (ibv_query_port -> ___ibv_query_port, ibv_reg_mr -> __ibv_reg_mr, and
 * ibv_get_device_list). Swift imports the plain symbol of the same name, which is the
 * old ABI-compat entry point, so each gets a cibv_ shim that expands the macro in C.
 */
#ifndef CIBVERBS_SHIM_H
#define CIBVERBS_SHIM_H
#include <infiniband/verbs.h>
#include <errno.h>

static inline struct ibv_device **cibv_get_device_list(int *num_devices) {
    return ibv_get_device_list(num_devices);
}

static inline int cibv_query_port(struct ibv_context *context, uint8_t port_num,
                                  struct ibv_port_attr *port_attr) {
    return ibv_query_port(context, port_num, port_attr);
}

static inline struct ibv_mr *cibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
                                         int access) {
    return ibv_reg_mr(pd, addr, length, access);
}

/* ibv_post_send / ibv_post_recv / ibv_poll_cq are static inline in verbs.h that call
 * through the context's ops table; wrapping them keeps that in C. */
static inline int cibv_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
                                 struct ibv_send_wr **bad_wr) {
    return ibv_post_send(qp, wr, bad_wr);
}
static inline int cibv_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
                                 struct ibv_recv_wr **bad_wr) {
    return ibv_post_recv(qp, wr, bad_wr);
}
static inline int cibv_poll_cq(struct ibv_cq *cq, int num_entries, struct ibv_wc *wc) {
    return ibv_poll_cq(cq, num_entries, wc);
}

/* ibv_query_gid_ex is static inline over _ibv_query_gid_ex (it passes the entry size);
 * it reports the GID's type (IB/RoCE v1/RoCE v2) and its netdev's ifindex. */
static inline int cibv_query_gid_ex(struct ibv_context *context, uint32_t port_num,
                                    uint32_t gid_index, struct ibv_gid_entry *entry) {
    return ibv_query_gid_ex(context, port_num, gid_index, entry, 0);
}

/* A load the compiler may not hoist out of a polling loop: RDMA-write latency waits
 * for the peer's NIC to change a byte in registered memory, which Swift cannot mark
 * volatile. */
static inline uint8_t cibv_load_volatile_u8(const void *address) {
    return *(const volatile uint8_t *)address;
}

static inline int cibv_errno(void) { return errno; }
static inline void cibv_clear_errno(void) { errno = 0; }

#endif
