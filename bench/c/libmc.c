/* libmemcached's C API on the workloads of scripts/bench: one server, TCP,
 * TCP_NODELAY (as memwire), the text protocol, blocking I/O.
 *
 *   libmc HOST PORT get|set|mget SECS
 *
 * Prints "UNITS SECS CPU" (requests, or keys for mget). */
#include <libmemcached/memcached.h>

#include "common.h"

static void check(memcached_st *mc, memcached_return_t rc, const char *what) {
    if (rc != MEMCACHED_SUCCESS) {
        fprintf(stderr, "libmc: %s: %s\n", what, memcached_last_error_message(mc));
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: libmc HOST PORT get|set|mget SECS\n");
        return 2;
    }
    const char *workload = argv[3];
    double secs = atof(argv[4]);
    memcached_st *mc = memcached_create(NULL);
    check(mc, memcached_server_add(mc, argv[1], (in_port_t)atoi(argv[2])), "server_add");
    check(mc, memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1), "nodelay");

    char value[VALUE_LEN];
    fill_value(value);
    char keys[MULTI_KEYS][32];
    const char *key_ptrs[MULTI_KEYS];
    size_t key_lens[MULTI_KEYS];
    for (int i = 0; i < MULTI_KEYS; i++) {
        snprintf(keys[i], sizeof keys[i], KEY_FMT, i);
        key_ptrs[i] = keys[i];
        key_lens[i] = strlen(keys[i]);
    }

    int kind;
    if (strcmp(workload, "get") == 0) kind = 0;
    else if (strcmp(workload, "set") == 0) kind = 1;
    else if (strcmp(workload, "mget") == 0) kind = 2;
    else {
        fprintf(stderr, "libmc: unknown workload %s\n", workload);
        return 2;
    }

    memcached_result_st result;
    memcached_result_create(mc, &result);
    long units = 0;
    double start = 0, cpu0 = 0, end = now_secs() + warm_up_secs(), t;
    int measuring = 0;
    for (;;) {
        t = now_secs();
        if (!measuring && t >= end) {
            measuring = 1;
            units = 0;
            start = t;
            cpu0 = cpu_secs();
            end = start + secs;
        } else if (measuring && t >= end) {
            break;
        }
        memcached_return_t rc;
        if (kind == 0) {
            size_t len;
            uint32_t flags;
            char *v = memcached_get(mc, key_ptrs[0], key_lens[0], &len, &flags, &rc);
            check(mc, rc, "get");
            if (len != VALUE_LEN) {
                fprintf(stderr, "libmc: wrong value length\n");
                return 2;
            }
            free(v);
            units++;
        } else if (kind == 1) {
            rc = memcached_set(mc, SET_KEY, strlen(SET_KEY), value, VALUE_LEN, 0, 0);
            check(mc, rc, "set");
            units++;
        } else {
            check(mc, memcached_mget(mc, key_ptrs, key_lens, MULTI_KEYS), "mget");
            while (memcached_fetch_result(mc, &result, &rc) != NULL) {
                if (memcached_result_length(&result) != VALUE_LEN) {
                    fprintf(stderr, "libmc: wrong value length\n");
                    return 2;
                }
                units++;
            }
            if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS) check(mc, rc, "fetch");
        }
    }
    report(units, t - start, cpu_secs() - cpu0);
    memcached_result_free(&result);
    memcached_free(mc);
    return 0;
}
