/* c-selfloop: blocking send + receive of 8 bytes to this same rank (MPI_COMM_SELF),
 * best of 15 runs of 100000, in ns per pair: the C twin of `baton bench selfloop`.
 * One process, so the figure holds still on a busy machine. Prints both the call as
 * Baton makes it (status requested, MPI_Get_count) and with MPI_STATUS_IGNORE. */
#include "common.h"

static double run(int with_status) {
    char s[8] = {1}, r[8] = {0};
    double best = 1e30;
    for (int rep = 0; rep < 15; rep++) {
        double start = MPI_Wtime();
        for (int i = 0; i < 100000; i++) {
            MPI_Send(s, 8, MPI_UINT8_T, 0, 1, MPI_COMM_SELF);
            if (with_status) {
                MPI_Status st;
                int count;
                MPI_Recv(r, 8, MPI_UINT8_T, 0, 1, MPI_COMM_SELF, &st);
                MPI_Get_count(&st, MPI_BYTE, &count);
            } else {
                MPI_Recv(r, 8, MPI_UINT8_T, 0, 1, MPI_COMM_SELF, MPI_STATUS_IGNORE);
            }
        }
        double ns = (MPI_Wtime() - start) * 1e9 / 100000;
        if (ns < best) best = ns;
    }
    return best;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    double ignore = run(0), status = run(1);
    printf("{\"suite\": \"selfloop\", \"impl\": \"c\", \"ns_per_send_receive\": %.2f, \"ns_with_status\": %.2f}\n", ignore, status);
    MPI_Finalize();
    return 0;
}
