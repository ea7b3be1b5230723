/* c-allreduce: the MPI_Allreduce loop `baton bench allreduce` times (float32 sum; each
 * call timed alone, a barrier after it outside the timing; out of place then in place),
 * printed as Baton's JSON (time_us = mean over ranks of each rank's mean per call). */
#include "common.h"

static double timed(int in_place, float *s, float *r, int count, long iters, long warmup) {
    double total = 0;
    for (long i = 0; i < warmup + iters; i++) {
        double start = MPI_Wtime();
        if (in_place) MPI_Allreduce(MPI_IN_PLACE, r, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        else MPI_Allreduce(s, r, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double stop = MPI_Wtime();
        if (i >= warmup) total += stop - start;
        MPI_Barrier(MPI_COMM_WORLD);
    }
    return total / iters;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, ranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    options_t o = parse_options(argc, argv, 8, 4 << 20);
    long capacity = o.max_size / 4 > 0 ? o.max_size / 4 : 1;
    float *s = malloc(sizeof(float) * capacity);
    float *r = malloc(sizeof(float) * capacity);
    if (rank == 0) printf("{\"suite\": \"allreduce\", \"impl\": \"c\", \"ranks\": %d, \"rows\": [\n", ranks);
    int first = 1;
    long last_count = -1;
    for (long n = o.min_size; n <= o.max_size; n = next_size(n)) {
        long count = n / 4 > 0 ? n / 4 : 1;
        if (count == last_count) continue;
        last_count = count;
        long iters, warmup;
        plan(&o, 2, count * 4, &iters, &warmup);
        for (int in_place = 0; in_place <= 1; in_place++) {
            memset(s, 0, sizeof(float) * capacity);
            memset(r, 0, sizeof(float) * capacity);
            double mean = timed(in_place, s, r, (int)count, iters, warmup), sum = 0;
            MPI_Allreduce(&mean, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            double time_us = sum / ranks * 1e6;
            double algbw = (double)count * 4 / (time_us * 1e-6) / 1e9;
            if (rank == 0) {
                printf("%s{\"size_bytes\": %ld, \"in_place\": %s, \"time_us\": %.6f, \"algbw_GBps\": %.6f, \"busbw_GBps\": %.6f, \"iterations\": %ld}",
                       first ? "  " : ",\n  ", count * 4, in_place ? "true" : "false", time_us, algbw, algbw * 2.0 * (ranks - 1) / ranks, iters);
                first = 0;
            }
        }
    }
    if (rank == 0) printf("\n]}\n");
    free(s);
    free(r);
    MPI_Finalize();
    return 0;
}
