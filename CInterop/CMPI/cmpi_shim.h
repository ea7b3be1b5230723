/* CMPI: what Swift cannot import from Open MPI's mpi.h.
 *
 * Open MPI's predefined handles (MPI_COMM_WORLD, MPI_INT8_T, MPI_SUM, ...) are macros
 * that cast the address of a global, e.g. ((MPI_Comm)&ompi_mpi_comm_world); Swift
 * imports no such macro. MPI_IN_PLACE is ((void *)1) and MPI_STATUS_IGNORE a null
 * cast. Each becomes a static inline getter prefixed cmpi_. Apt package: libopenmpi-dev.
 */
#ifndef CMPI_SHIM_H
#define CMPI_SHIM_H
#include <mpi.h>

/* communicators */
static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm cmpi_comm_self(void) { return MPI_COMM_SELF; }
static inline MPI_Comm cmpi_comm_null(void) { return MPI_COMM_NULL; }
static inline int cmpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline int cmpi_undefined(void) { return MPI_UNDEFINED; }

/* error handling */
static inline MPI_Errhandler cmpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int cmpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int cmpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline int cmpi_max_library_version_string(void) { return MPI_MAX_LIBRARY_VERSION_STRING; }
static inline int cmpi_success(void) { return MPI_SUCCESS; }

/* special buffers and statuses */
static inline void *cmpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Status *cmpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status *cmpi_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
static inline int cmpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline int cmpi_any_tag(void) { return MPI_ANY_TAG; }
static inline int cmpi_proc_null(void) { return MPI_PROC_NULL; }
static inline MPI_Request cmpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Info cmpi_info_null(void) { return MPI_INFO_NULL; }

/* thread levels */
static inline int cmpi_thread_single(void) { return MPI_THREAD_SINGLE; }
static inline int cmpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int cmpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int cmpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }

/* datatypes: fixed-width C types, so each Swift scalar has exactly one */
static inline MPI_Datatype cmpi_int8(void) { return MPI_INT8_T; }
static inline MPI_Datatype cmpi_int16(void) { return MPI_INT16_T; }
static inline MPI_Datatype cmpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype cmpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype cmpi_uint8(void) { return MPI_UINT8_T; }
static inline MPI_Datatype cmpi_uint16(void) { return MPI_UINT16_T; }
static inline MPI_Datatype cmpi_uint32(void) { return MPI_UINT32_T; }
static inline MPI_Datatype cmpi_uint64(void) { return MPI_UINT64_T; }
static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype cmpi_datatype_null(void) { return MPI_DATATYPE_NULL; }

/* reduction operations */
static inline MPI_Op cmpi_op_sum(void) { return MPI_SUM; }
static inline MPI_Op cmpi_op_prod(void) { return MPI_PROD; }
static inline MPI_Op cmpi_op_min(void) { return MPI_MIN; }
static inline MPI_Op cmpi_op_max(void) { return MPI_MAX; }
static inline MPI_Op cmpi_op_land(void) { return MPI_LAND; }
static inline MPI_Op cmpi_op_lor(void) { return MPI_LOR; }
static inline MPI_Op cmpi_op_band(void) { return MPI_BAND; }
static inline MPI_Op cmpi_op_bor(void) { return MPI_BOR; }

/* MPI_Status fields (public members in Open MPI, but named with a leading upper case
 * that reads oddly from Swift; the count needs MPI_Get_count). */
static inline int cmpi_status_source(const MPI_Status *s) { return s->MPI_SOURCE; }
static inline int cmpi_status_tag(const MPI_Status *s) { return s->MPI_TAG; }
/* The bytes a completed receive or probe delivered. MPI_Get_count(MPI_BYTE) is a
 * library call with argument checks that costs about as much as the rest of a small
 * receive's bookkeeping (measured ~10 ns per call here, ~4% of a 0.27 us shared-memory
 * latency); Open MPI 2.x-5.x keep the byte count in the status itself (_ucount, what
 * MPI_Get_count divides), so read it there. Other libraries take the portable call.
 * Tests/MPITests checks both agree. */
static inline long long cmpi_status_byte_count(MPI_Status *s) {
#if defined(OPEN_MPI) && OPEN_MPI && defined(OMPI_MAJOR_VERSION) && OMPI_MAJOR_VERSION >= 2 && OMPI_MAJOR_VERSION <= 5
    return (long long)s->_ucount;
#else
    int bytes = 0;
    MPI_Get_count(s, MPI_BYTE, &bytes);
    return bytes;
#endif
}
static inline long long cmpi_status_byte_count_portable(MPI_Status *s) {
    int bytes = 0;
    MPI_Get_count(s, MPI_BYTE, &bytes);
    return bytes;
}
static inline int cmpi_status_error(const MPI_Status *s) { return s->MPI_ERROR; }

#endif
