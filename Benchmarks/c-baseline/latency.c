/* c-latency: osu_latency's ping-pong between ranks 0 and 1, printed as Baton's JSON
 * (size_bytes, latency_us = half the round trip). */
#include "common.h"

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    options_t o = parse_options(argc, argv, 0, 4 << 20);
    if (rank == 0) printf("{\"suite\": \"latency\", \"impl\": \"c\", \"rows\": [\n");
    int first = 1;
    for (long n = o.min_size; n <= o.max_size; n = next_size(n)) {
        long iters, warmup;
        plan(&o, 0, n, &iters, &warmup);
        /* Fresh buffers per size, as Baton allocates them. */
        char *s_buf = malloc(n > 0 ? n : 1);
        char *r_buf = malloc(n > 0 ? n : 1);
        memset(s_buf, 'a', n > 0 ? n : 1);
        memset(r_buf, 'b', n > 0 ? n : 1);
        MPI_Barrier(MPI_COMM_WORLD);
        double start = 0;
        if (rank == 0) {
            for (long i = 0; i < iters + warmup; i++) {
                if (i == warmup) start = MPI_Wtime();
                MPI_Send(s_buf, (int)n, MPI_UINT8_T, 1, 1, MPI_COMM_WORLD);
                MPI_Recv(r_buf, (int)n, MPI_UINT8_T, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            }
        } else if (rank == 1) {
            for (long i = 0; i < iters + warmup; i++) {
                if (i == warmup) start = MPI_Wtime();
                MPI_Recv(r_buf, (int)n, MPI_UINT8_T, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Send(s_buf, (int)n, MPI_UINT8_T, 0, 1, MPI_COMM_WORLD);
            }
        }
        double latency = (MPI_Wtime() - start) * 1e6 / (2.0 * iters);
        if (rank == 0) {
            printf("%s{\"size_bytes\": %ld, \"latency_us\": %.6f, \"iterations\": %ld}", first ? "  " : ",\n  ", n, latency, iters);
            first = 0;
        }
        free(s_buf);
        free(r_buf);
    }
    if (rank == 0) printf("\n]}\n");
    MPI_Finalize();
    return 0;
}
