/* uxload: a closed-loop HTTP/1.1 load generator for Unix domain sockets.
 * Each of C connections sends one request, waits for the whole response
 * (Content-Length framed), records the latency and sends the next.
 * Usage: uxload SOCKET CONNECTIONS SECONDS REQUEST_FILE [REQUEST_FILE...]
 * Request files hold complete raw requests; connections take them in turn.
 * Prints requests/s and latency percentiles; exits 1 on any non-2xx answer. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAXC 256
#define BUCKETS 200000 /* 0.1 us buckets up to 20 ms */

struct conn { int fd; const char *req; size_t reqlen; char buf[65536]; size_t have; uint64_t sent_ns; };

static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec; }
static uint64_t hist[BUCKETS + 1];
static uint64_t total, bad;

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb"); if (!f) { perror(path); exit(2); }
    char *b = malloc(1 << 20); *len = fread(b, 1, 1 << 20, f); fclose(f); return b;
}

static void sendreq(struct conn *c) {
    c->sent_ns = now_ns(); c->have = 0;
    size_t off = 0;
    while (off < c->reqlen) { ssize_t n = write(c->fd, c->req + off, c->reqlen - off); if (n <= 0) { perror("write"); exit(2); } off += n; }
}

/* Returns 1 when a whole response is in the buffer. */
static int complete(struct conn *c) {
    char *end = memmem(c->buf, c->have, "\r\n\r\n", 4); if (!end) return 0;
    size_t head = end - c->buf + 4; size_t cl = 0;
    char *p = strcasestr(c->buf, "content-length:"); if (p && p < end) cl = strtoul(p + 15, NULL, 10);
    if (c->have < head + cl) return 0;
    int status = atoi(c->buf + 9); if (status < 200 || status > 299) bad++;
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: uxload SOCKET CONNECTIONS SECONDS REQUEST_FILE...\n"); return 2; }
    int nc = atoi(argv[2]); double secs = atof(argv[3]); if (nc > MAXC) nc = MAXC;
    int nreq = argc - 4; char *reqs[64]; size_t lens[64];
    for (int i = 0; i < nreq && i < 64; i++) reqs[i] = slurp(argv[4 + i], &lens[i]);
    int ep = epoll_create1(0); static struct conn cs[MAXC];
    for (int i = 0; i < nc; i++) {
        struct sockaddr_un a = { .sun_family = AF_UNIX }; strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
        cs[i].fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(cs[i].fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 2; }
        cs[i].req = reqs[i % nreq]; cs[i].reqlen = lens[i % nreq];
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &cs[i] }; epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    uint64_t start = now_ns(), stop = start + (uint64_t)(secs * 1e9);
    int outstanding = nc;
    for (int i = 0; i < nc; i++) sendreq(&cs[i]);
    struct epoll_event evs[MAXC];
    while (1) {
        int n = epoll_wait(ep, evs, MAXC, 1000);
        uint64_t t = now_ns();
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have - 1);
            if (r <= 0) { fprintf(stderr, "connection closed by server\n"); return 1; }
            c->have += r; c->buf[c->have] = 0;
            if (!complete(c)) continue;
            uint64_t lat = (t - c->sent_ns) / 100; hist[lat > BUCKETS ? BUCKETS : lat]++; total++;
            if (t < stop) sendreq(c); else outstanding--;
        }
        if (outstanding == 0 || t >= stop + 2000000000ull) break;
    }
    double el = secs;
    double pct[] = { 50, 90, 99, 99.9 }; double res[4]; uint64_t acc = 0; int k = 0;
    for (int b = 0; b <= BUCKETS && k < 4; b++) { acc += hist[b]; while (k < 4 && acc >= total * pct[k] / 100.0) res[k++] = b / 10.0; }
    printf("requests %llu in %.1fs: %.0f req/s; latency us p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f; non-2xx %llu\n",
           (unsigned long long)total, el, total / el, res[0], res[1], res[2], res[3], (unsigned long long)bad);
    return bad ? 1 : 0;
}
