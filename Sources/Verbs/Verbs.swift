// Verbs: Swift bindings for libibverbs (InfiniBand / RoCE verbs).
//
// This module knows nothing about Baton and exposes no C type. What it offers today:
//
//   Device.list()                 ibv_get_device_list, copied into values, list freed
//   Context(device:) / (named:)   ibv_open_device; ibv_close_device in deinit
//   Context.queryDevice()         ibv_query_device
//   Context.queryPort(_:)         ibv_query_port (through the cibv_query_port shim: it is a macro)
//   Context.queryGID(port:index:) ibv_query_gid
//   Context.queryGIDEntry(...)    ibv_query_gid_ex (GID, GID type, netdev ifindex)
//
// Errors are `VerbsError` values carrying the C function's name and the errno.
//
// ## How further resources fit (protection domain, memory region, CQ, QP)
//
// Every verbs object is owned by a `final class` that frees it in `deinit`, and keeps a
// strong reference to the object it was created from, so that the parent outlives its
// children exactly as libibverbs requires (a PD must be deallocated before its context
// is closed, an MR deregistered before its PD):
//
//     public final class ProtectionDomain: @unchecked Sendable {
//         let pointer: UnsafeMutablePointer<ibv_pd>   // internal: never in the public API
//         public let context: Context                  // keeps the device open
//         public init(context: Context) throws(VerbsError) {
//             cibv_clear_errno()
//             guard let pd = ibv_alloc_pd(context.pointer) else {
//                 throw VerbsError.fromErrno("ibv_alloc_pd") }
//             self.pointer = pd
//             self.context = context
//         }
//         deinit { ibv_dealloc_pd(pointer) }
//     }
//
// A memory region owns (or retains) the buffer it registered, so the memory cannot be
// freed while the NIC may still DMA into it; registration goes through the cibv_reg_mr
// shim (ibv_reg_mr is a macro). Posting and polling go through cibv_post_send /
// cibv_post_recv / cibv_poll_cq (static inline in verbs.h). Calls that return an int go
// through `VerbsError.check(_:_:)`; calls that return a pointer use
// `VerbsError.fromErrno(_:)` when it is NULL. Enumerations (MTU, port state, GID type)
// are Swift structs or enums with a `rawValue` the module converts internally.
