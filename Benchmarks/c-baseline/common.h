/* Shared option parsing and OSU iteration counts for the C baseline programs.
 * The programs do exactly what `baton bench` does (same loops, same counts, same
 * buffers), straight over libmpi, so the ratio of the two measures the Swift layer. */
#ifndef BASELINE_COMMON_H
#define BASELINE_COMMON_H
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* osu_util.h (OSU 5.x): LARGE_MESSAGE_SIZE and the loop/skip counts. */
#define LARGE_MESSAGE_SIZE 8192

typedef struct {
    long min_size, max_size;
    long iters, warmup; /* -1: OSU's default for the size */
    int window;
} options_t;

static inline long parse_size(const char *text) {
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (end && (*end == 'K' || *end == 'k')) v <<= 10;
    else if (end && (*end == 'M' || *end == 'm')) v <<= 20;
    return v;
}

static inline options_t parse_options(int argc, char **argv, long min_size, long max_size) {
    options_t o = {min_size, max_size, -1, -1, 64};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--min-size")) o.min_size = parse_size(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-size")) o.max_size = parse_size(argv[i + 1]);
        else if (!strcmp(argv[i], "--iters")) o.iters = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup")) o.warmup = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--window")) o.window = atoi(argv[i + 1]);
        else { fprintf(stderr, "unknown option %s\n", argv[i]); exit(2); }
    }
    return o;
}

/* family: 0 latency, 1 bandwidth, 2 collective */
static inline void plan(const options_t *o, int family, long size, long *iters, long *warmup) {
    int large = size > LARGE_MESSAGE_SIZE;
    static const long counts[3][4] = {{10000, 100, 1000, 10}, {100, 10, 20, 2}, {1000, 100, 100, 10}};
    *iters = large ? counts[family][2] : counts[family][0];
    *warmup = large ? counts[family][3] : counts[family][1];
    if (o->iters >= 0) *iters = o->iters;
    if (o->warmup >= 0) *warmup = o->warmup;
}

/* The size schedule: 0 first when asked for, then doubling from 1 (or min). */
static inline long next_size(long size) { return size == 0 ? 1 : size * 2; }

#endif
