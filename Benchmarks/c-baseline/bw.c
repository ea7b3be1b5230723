/* c-bw: osu_bw between ranks 0 and 1 (a window of MPI_Isend, MPI_Waitall, a 4-byte
 * ack), printed as Baton's JSON (bandwidth_GBps, GB = 1e9 bytes). One buffer per
 * size, as Baton allocates one per size. */
#include "common.h"

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    options_t o = parse_options(argc, argv, 1, 4 << 20);
    MPI_Request *requests = malloc(sizeof(MPI_Request) * o.window);
    unsigned char ack[4] = {0};
    if (rank == 0) printf("{\"suite\": \"bw\", \"impl\": \"c\", \"rows\": [\n");
    int first = 1;
    for (long n = o.min_size; n <= o.max_size; n = next_size(n)) {
        long iters, warmup;
        plan(&o, 1, n, &iters, &warmup);
        unsigned char *buf = malloc(n > 0 ? n : 1);
        memset(buf, rank == 0 ? 'a' : 'b', n > 0 ? n : 1);
        MPI_Barrier(MPI_COMM_WORLD);
        double start = 0;
        if (rank == 0) {
            for (long i = 0; i < iters + warmup; i++) {
                if (i == warmup) start = MPI_Wtime();
                for (int w = 0; w < o.window; w++) MPI_Isend(buf, (int)n, MPI_UINT8_T, 1, 100, MPI_COMM_WORLD, &requests[w]);
                MPI_Waitall(o.window, requests, MPI_STATUSES_IGNORE);
                MPI_Recv(ack, 4, MPI_UINT8_T, 1, 101, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            }
        } else if (rank == 1) {
            for (long i = 0; i < iters + warmup; i++) {
                if (i == warmup) start = MPI_Wtime();
                for (int w = 0; w < o.window; w++) MPI_Irecv(buf, (int)n, MPI_UINT8_T, 0, 100, MPI_COMM_WORLD, &requests[w]);
                MPI_Waitall(o.window, requests, MPI_STATUSES_IGNORE);
                MPI_Send(ack, 4, MPI_UINT8_T, 0, 101, MPI_COMM_WORLD);
            }
        }
        double seconds = MPI_Wtime() - start;
        double gbps = (double)n * iters * o.window / seconds / 1e9;
        /* Rank 0's figure, as Baton reports it (it broadcasts rank 0's value). */
        MPI_Bcast(&gbps, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        if (rank == 0) {
            printf("%s{\"size_bytes\": %ld, \"bandwidth_GBps\": %.6f, \"iterations\": %ld}", first ? "  " : ",\n  ", n, gbps, iters);
            first = 0;
        }
        free(buf);
    }
    if (rank == 0) printf("\n]}\n");
    free(requests);
    MPI_Finalize();
    return 0;
}
