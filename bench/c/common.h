/* What the two C programs of scripts/bench share: the workloads' keys and
 * bytes (the same memwire sends), the clock, the CPU time, the report. */
#ifndef MEMWIRE_BENCH_COMMON_H
#define MEMWIRE_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define VALUE_LEN 100
#define MULTI_KEYS 100
/* Every key has the same length, so every reply to a get has too. */
#define KEY_FMT "bench:k%02d"
#define SET_KEY "bench:set"

static double now_secs(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_secs(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* The line every bench program prints: units done (requests, or keys for
 * a multi-get), wall seconds and CPU seconds of the measured part. */
static void report(long units, double secs, double cpu) {
    printf("%ld %.6f %.6f\n", units, secs, cpu);
}

/* Seconds of warm-up before the measured span: $BENCH_WARMUP, default 0.2
 * (scripts/bench sets 0 to count system calls). */
static double warm_up_secs(void) {
    const char *w = getenv("BENCH_WARMUP");
    return w ? atof(w) : 0.2;
}

/* Nanoseconds of pure computation (a spin on the clock, touching no
 * memory) after each reply: $BUSY_NS, default 0. A calibration, not a
 * client: it shows what a client whose whole work per request is that much
 * computation would measure against the floor. */
static double busy_secs(void) {
    const char *b = getenv("BUSY_NS");
    return b ? atof(b) / 1e9 : 0;
}

static void spin_for(double secs) {
    if (secs <= 0) return;
    double until = now_secs() + secs;
    while (now_secs() < until) {
    }
}

/* The 100-byte value every workload stores. */
static void fill_value(char *v) {
    for (int i = 0; i < VALUE_LEN; i++) v[i] = (char)('a' + i % 26);
}

#endif
