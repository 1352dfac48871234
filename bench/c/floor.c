/* The raw-socket floor of scripts/bench: a blocking TCP socket
 * (TCP_NODELAY, as memwire sets it) sending exactly the bytes memwire sends
 * and reading the replies by their known length, with no parsing beyond a
 * check of the last bytes. Nothing a client could do costs less.
 *
 *   floor HOST PORT get|set|mget|window SECS [WINDOW]
 *
 * Prints "UNITS SECS CPU" (requests, or keys for mget). With $BUSY_NS,
 * each request of get, set and mget also spends that many nanoseconds
 * computing (see busy_secs). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

static int fd;

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void send_all(const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, buf, len, 0);
        if (n <= 0) die("send");
        buf += n;
        len -= (size_t)n;
    }
}

/* Reads exactly `len` bytes of replies into `buf`. */
static void recv_exact(char *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n <= 0) die("recv");
        got += (size_t)n;
    }
}

static void expect_tail(const char *buf, size_t len, const char *tail) {
    size_t t = strlen(tail);
    if (len < t || memcmp(buf + len - t, tail, t) != 0) {
        fprintf(stderr, "floor: unexpected reply\n");
        exit(2);
    }
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: floor HOST PORT get|set|mget|window SECS [WINDOW]\n");
        return 2;
    }
    const char *workload = argv[3];
    double secs = atof(argv[4]);
    int window = argc > 5 ? atoi(argv[5]) : 100;
    if (window < 1) window = 1;

    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) die("inet_pton");
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("connect");

    char value[VALUE_LEN];
    fill_value(value);
    char key[32];
    snprintf(key, sizeof key, KEY_FMT, 0);

    /* The request and the length of its reply. */
    static char req[8192];
    size_t req_len = 0, reply_len = 0;
    const char *tail = "END\r\n";
    long units_per_op = 1;
    if (strcmp(workload, "get") == 0 || strcmp(workload, "window") == 0) {
        req_len = (size_t)snprintf(req, sizeof req, "get %s\r\n", key);
        reply_len = (size_t)snprintf(NULL, 0, "VALUE %s 0 %d\r\n", key, VALUE_LEN) + VALUE_LEN + 2 + 5;
    } else if (strcmp(workload, "set") == 0) {
        req_len = (size_t)snprintf(req, sizeof req, "set %s 0 0 %d\r\n", SET_KEY, VALUE_LEN);
        memcpy(req + req_len, value, VALUE_LEN);
        req_len += VALUE_LEN;
        memcpy(req + req_len, "\r\n", 2);
        req_len += 2;
        reply_len = 8;
        tail = "STORED\r\n";
    } else if (strcmp(workload, "mget") == 0) {
        req_len = (size_t)snprintf(req, sizeof req, "get");
        for (int i = 0; i < MULTI_KEYS; i++) {
            char k[32];
            snprintf(k, sizeof k, KEY_FMT, i);
            req_len += (size_t)snprintf(req + req_len, sizeof req - req_len, " %s", k);
            reply_len += (size_t)snprintf(NULL, 0, "VALUE %s 0 %d\r\n", k, VALUE_LEN) + VALUE_LEN + 2;
        }
        req_len += (size_t)snprintf(req + req_len, sizeof req - req_len, "\r\n");
        reply_len += 5;
        units_per_op = MULTI_KEYS;
    } else {
        fprintf(stderr, "floor: unknown workload %s\n", workload);
        return 2;
    }

    if (strcmp(workload, "window") != 0) {
        char *buf = malloc(reply_len);
        double busy = busy_secs();
        double warm_until = now_secs() + warm_up_secs();
        while (now_secs() < warm_until) {
            send_all(req, req_len);
            recv_exact(buf, reply_len);
        }
        long ops = 0;
        double start = now_secs(), cpu0 = cpu_secs(), end = start + secs, t;
        do {
            send_all(req, req_len);
            recv_exact(buf, reply_len);
            expect_tail(buf, reply_len, tail);
            spin_for(busy);
            ops++;
        } while ((t = now_secs()) < end);
        report(ops * units_per_op, t - start, cpu_secs() - cpu0);
        return 0;
    }

    /* A sliding window of `window` gets: after each read, as many new
     * requests as replies completed, in one write. */
    char *reqs = malloc(req_len * (size_t)window);
    for (int i = 0; i < window; i++) memcpy(reqs + req_len * (size_t)i, req, req_len);
    size_t cap = 64 * 1024;
    char *buf = malloc(cap);
    double start = 0, cpu0 = 0, end = now_secs() + warm_up_secs(), t = 0;
    int measuring = 0;
    long done = 0, in_flight = 0;
    size_t partial = 0; /* bytes of the reply being received */
    for (;;) {
        t = now_secs();
        if (!measuring && t >= end) {
            measuring = 1;
            done = 0;
            start = t;
            cpu0 = cpu_secs();
            end = start + secs;
        } else if (measuring && t >= end) {
            break;
        }
        long room = window - in_flight;
        if (room > 0) {
            send_all(reqs, req_len * (size_t)room);
            in_flight += room;
        }
        ssize_t n = recv(fd, buf, cap, 0);
        if (n <= 0) die("recv");
        partial += (size_t)n;
        long completed = (long)(partial / reply_len);
        partial %= reply_len;
        done += completed;
        in_flight -= completed;
    }
    report(done, t - start, cpu_secs() - cpu0);
    /* Drain what is still in flight before closing. */
    while (in_flight > 0) {
        ssize_t n = recv(fd, buf, cap, 0);
        if (n <= 0) break;
        partial += (size_t)n;
        in_flight -= (long)(partial / reply_len);
        partial %= reply_len;
    }
    return 0;
}
