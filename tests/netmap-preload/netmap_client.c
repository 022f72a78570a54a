/*
 * A netmap program written against netmap's raw binary interface only:
 * open("/dev/netmap"), ioctl(NIOCCTRL / NIOCREGIF / NIOCTXSYNC / NIOCRXSYNC),
 * mmap, poll and select. It includes <upio/netmap.h> for the declarations
 * (netmap's <net/netmap.h>, byte for byte) and links nothing of upio: run
 * under LD_PRELOAD=libupio-netmap.so it talks to upio as it would to
 * netmap's kernel module.
 *
 *   netmap_client pipe NAME COUNT    netmap:NAME{0 -> netmap:NAME}0 in one process
 *   netmap_client vale SWITCH COUNT  valeSWITCH:a -> valeSWITCH:b in one process
 *   netmap_client tx PORT COUNT      send COUNT numbered frames; closes on SIGUSR1 (the receiver is done)
 *   netmap_client rx PORT COUNT      receive COUNT frames and check their numbers
 *   netmap_client wakeup NAME        a thread asleep in poll() wakes for a frame
 *   netmap_client control NAME       control requests: info, pools, legacy, errors
 *   netmap_client epoll NAME COUNT   a thread sends COUNT frames, the main thread receives them through
 *                                    epoll_wait (a plain pipe in the same set), asleep while idle
 *   netmap_client txpoll NAME        poll(POLLIN) over two descriptors sends what a tx ring holds (no
 *                                    NIOCTXSYNC), as bridge relies on; with the peer gone it sleeps
 *   netmap_client twice NAME         one port registered by two descriptors (as tlem does) shares its rings
 *   netmap_client dup NAME           copies of a descriptor (dup, dup2, dup3, fcntl, fcntl64) are the one
 *                                    registration; a child of fork is refused its parent's descriptor
 *   netmap_client attach valeX:IF    vale-ctl's requests, as vale-ctl sends them: VALE_ATTACH,
 *   netmap_client detach valeX:IF      VALE_DETACH, VALE_NEWIF, VALE_DELIF, VALE_LIST of one
 *   netmap_client newif NAME            port or (without NAME) the walk over every port; a
 *   netmap_client delif NAME            refusal prints "errno=N" and exits 3
 *   netmap_client list [NAME]
 *   netmap_client register PORT      REGISTER only: "registered", or "errno=N" and exit 3
 *   netmap_client arp PORT ME PEER COUNT  ARP for PEER (an IPv4 address) from ME, then COUNT
 *                                    pings of PEER: every one must be answered
 * Exit status 0 when every check held; the failure is printed otherwise.
 */
#define _GNU_SOURCE /* dup3 */
#include <upio/netmap.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FRAME_LEN 60
#define TIMEOUT_MS 20000

#define CHECK(cond, ...)                                                                                            \
    do {                                                                                                            \
        if (!(cond)) {                                                                                              \
            fprintf(stderr, "netmap_client: %s:%d: %s: ", __FILE__, __LINE__, #cond);                              \
            fprintf(stderr, __VA_ARGS__);                                                                           \
            fprintf(stderr, " (errno %d: %s)\n", errno, strerror(errno));                                          \
            exit(1);                                                                                                \
        }                                                                                                           \
    } while (0)

struct port {
    int fd;
    char *mem;
    struct nmreq_register reg;
    struct netmap_if *nifp;
    struct netmap_ring *tx, *rx;
};

static uint32_t next(const struct netmap_ring *r, uint32_t i) { return i + 1 == r->num_slots ? 0 : i + 1; }
static uint32_t space(const struct netmap_ring *r) {
    return r->tail >= r->cur ? r->tail - r->cur : r->num_slots + r->tail - r->cur;
}
static char *buf(struct netmap_ring *r, uint32_t idx) { return (char *)r + r->buf_ofs + (size_t)idx * r->nr_buf_size; }

static int ctrl(int fd, const char *name, uint16_t type, void *body) {
    struct nmreq_header h;
    memset(&h, 0, sizeof h);
    h.nr_version = NETMAP_API;
    h.nr_reqtype = type;
    snprintf(h.nr_name, sizeof h.nr_name, "%s", name);
    h.nr_body = (uint64_t)(uintptr_t)body;
    return ioctl(fd, NIOCCTRL, &h);
}

static void port_open(struct port *p, const char *name) {
    memset(p, 0, sizeof *p);
    p->fd = open("/dev/netmap", O_RDWR);
    CHECK(p->fd >= 0, "open /dev/netmap");
    p->reg.nr_mode = NR_REG_ALL_NIC;
    CHECK(ctrl(p->fd, name, NETMAP_REQ_REGISTER, &p->reg) == 0, "REGISTER %s", name);
    CHECK(p->reg.nr_memsize > 0 && p->reg.nr_offset < p->reg.nr_memsize, "memsize %llu offset %llu",
          (unsigned long long)p->reg.nr_memsize, (unsigned long long)p->reg.nr_offset);
    p->mem = mmap(NULL, p->reg.nr_memsize, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
    CHECK(p->mem != MAP_FAILED, "mmap %s", name);
    p->nifp = (struct netmap_if *)(p->mem + p->reg.nr_offset);
    CHECK(p->nifp->ni_version == NETMAP_API, "ni_version %u", p->nifp->ni_version);
    CHECK(p->nifp->ni_tx_rings == p->reg.nr_tx_rings && p->nifp->ni_rx_rings == p->reg.nr_rx_rings,
          "rings: nifp %u/%u, reply %u/%u", p->nifp->ni_tx_rings, p->nifp->ni_rx_rings, p->reg.nr_tx_rings,
          p->reg.nr_rx_rings);
    CHECK(p->nifp->ring_ofs[0] != 0, "tx ring 0 not bound");
    p->tx = (struct netmap_ring *)((char *)p->nifp + p->nifp->ring_ofs[0]);
    p->rx = (struct netmap_ring *)((char *)p->nifp + p->nifp->ring_ofs[p->nifp->ni_tx_rings]);
    CHECK(p->tx->num_slots == p->reg.nr_tx_slots && p->tx->dir == 0 && p->rx->dir == 1, "ring header");
    /* every buffer a ring shows is inside the mapping */
    CHECK((char *)p->tx + p->tx->buf_ofs >= p->mem &&
              buf(p->tx, p->tx->slot[0].buf_idx) + p->tx->nr_buf_size <= p->mem + p->reg.nr_memsize,
          "buffer outside the mapping");
}

static void port_close(struct port *p) {
    CHECK(munmap(p->mem, p->reg.nr_memsize) == 0, "munmap");
    CHECK(close(p->fd) == 0, "close");
}

/* Puts up to n frames numbered from *seq in the tx ring; returns how many. */
static uint32_t put(struct port *p, uint32_t *seq, uint32_t n) {
    struct netmap_ring *r = p->tx;
    uint32_t k = 0;
    while (k < n && space(r) > 0) {
        struct netmap_slot *s = &r->slot[r->cur];
        char *b = buf(r, s->buf_idx);
        memset(b, 0xff, 6); /* broadcast: VALE floods it */
        memcpy(b + 6, "\x02\x00\x00\x00\x00\x01", 6);
        b[12] = 0x08, b[13] = 0x00;
        memset(b + 14, 0, FRAME_LEN - 14);
        memcpy(b + 14, seq, 4);
        s->len = FRAME_LEN;
        s->flags = 0;
        r->head = r->cur = next(r, r->cur);
        ++*seq, ++k;
    }
    return k;
}

/* Takes every frame in the rx ring, checking it is number *seq onwards. */
static uint32_t take(struct port *p, uint32_t *seq) {
    struct netmap_ring *r = p->rx;
    uint32_t k = 0;
    while (r->cur != r->tail) {
        struct netmap_slot *s = &r->slot[r->cur];
        uint32_t got;
        CHECK(s->len == FRAME_LEN, "frame %u: length %u", *seq, s->len);
        memcpy(&got, buf(r, s->buf_idx) + 14, 4);
        CHECK(got == *seq, "frame number %u where %u was due", got, *seq);
        r->head = r->cur = next(r, r->cur);
        ++*seq, ++k;
    }
    return k;
}

/* Sender -> receiver in one process, in batches: each batch is synced
 * (ioctl), waited for with poll() on both descriptors, then checked. */
static int lockstep(const char *tx_name, const char *rx_name, uint32_t count) {
    struct port a, b;
    port_open(&a, tx_name);
    port_open(&b, rx_name);
    uint32_t sent = 0, got = 0;
    int use_select = 0;
    while (got < count) {
        uint32_t batch = count - sent < 200 ? count - sent : 200;
        put(&a, &sent, batch);
        CHECK(ioctl(a.fd, NIOCTXSYNC, NULL) == 0, "NIOCTXSYNC");
        while (got < sent) {
            if (use_select) { /* every other batch through select() */
                fd_set rd;
                FD_ZERO(&rd);
                FD_SET(b.fd, &rd);
                struct timeval tv = {TIMEOUT_MS / 1000, 0};
                CHECK(select(b.fd + 1, &rd, NULL, NULL, &tv) == 1 && FD_ISSET(b.fd, &rd), "select: nothing");
            } else {
                struct pollfd pfd[2] = {{a.fd, POLLOUT, 0}, {b.fd, POLLIN, 0}};
                CHECK(poll(pfd, 2, TIMEOUT_MS) > 0, "poll: nothing");
                if (!(pfd[1].revents & POLLIN)) continue;
            }
            take(&b, &got);
            CHECK(ioctl(b.fd, NIOCRXSYNC, NULL) == 0, "NIOCRXSYNC");
        }
        CHECK(got == sent, "received %u of %u", got, sent);
        use_select = !use_select;
    }
    printf("%s -> %s: %u frames sent and received in order\n", tx_name, rx_name, got);
    port_close(&a);
    port_close(&b);
    return 0;
}

static int tx(const char *name, uint32_t count) {
    struct port p;
    port_open(&p, name);
    uint32_t sent = 0;
    while (sent < count) {
        struct pollfd pfd = {p.fd, POLLOUT, 0};
        CHECK(poll(&pfd, 1, TIMEOUT_MS) == 1 && (pfd.revents & POLLOUT), "poll(POLLOUT): no room after %u frames",
              sent);
        put(&p, &sent, count - sent);
    }
    /* until the peer has taken every frame: all slots back but the empty
     * one, or the peer gone (it leaves once it has them all; its exit status
     * says whether it did) */
    for (int i = 0; next(p.tx, p.tx->tail) != p.tx->head; i++) {
        struct pollfd pfd = {p.fd, POLLOUT, 0};
        CHECK(poll(&pfd, 1, TIMEOUT_MS) == 1, "waiting for the peer to take the last frames");
        if (ioctl(p.fd, NIOCTXSYNC, NULL) < 0) {
            CHECK(errno == ENOTCONN, "NIOCTXSYNC");
            break;
        }
        CHECK(i < 100000000, "the peer does not take the last frames");
    }
    printf("%s: %u frames sent\n", name, sent);
    /* Frames a pipe end has taken but its program has not yet seen are lost
     * when the other end closes: hold this end open until the receiver says
     * it is done (SIGUSR1, blocked since main). */
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    struct timespec limit = {TIMEOUT_MS / 1000, 0};
    CHECK(sigtimedwait(&usr1, NULL, &limit) == SIGUSR1, "no word from the receiver");
    port_close(&p);
    return 0;
}

static int rx(const char *name, uint32_t count) {
    struct port p;
    port_open(&p, name);
    uint32_t got = 0;
    while (got < count) {
        struct pollfd pfd = {p.fd, POLLIN, 0};
        CHECK(poll(&pfd, 1, TIMEOUT_MS) == 1 && (pfd.revents & POLLIN), "poll(POLLIN): nothing after %u frames", got);
        take(&p, &got);
    }
    printf("%s: %u frames received in order\n", name, got);
    port_close(&p);
    return 0;
}

struct waiter {
    struct port *p;
    int ready_pipe;
    int result; /* poll's return */
    short revents;
};

static void *wait_thread(void *arg) {
    struct waiter *w = arg;
    struct pollfd pfd = {w->p->fd, POLLIN, 0};
    char c = 'x';
    CHECK(write(w->ready_pipe, &c, 1) == 1, "write");
    w->result = poll(&pfd, 1, TIMEOUT_MS);
    w->revents = pfd.revents;
    return NULL;
}

/* A thread sleeps in poll(POLLIN) on an empty ring; a frame sent from this
 * thread must wake it. */
static int wakeup(const char *base) {
    char an[64], bn[64];
    snprintf(an, sizeof an, "netmap:%s{0", base);
    snprintf(bn, sizeof bn, "netmap:%s}0", base);
    struct port a, b;
    port_open(&a, an);
    port_open(&b, bn);
    int pp[2];
    CHECK(pipe(pp) == 0, "pipe");
    struct waiter w = {&b, pp[1], -2, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, wait_thread, &w) == 0, "pthread_create");
    char c;
    CHECK(read(pp[0], &c, 1) == 1, "read"); /* the waiter is about to poll */
    uint32_t seq = 7;
    CHECK(put(&a, &seq, 1) == 1, "put");
    CHECK(ioctl(a.fd, NIOCTXSYNC, NULL) == 0, "NIOCTXSYNC");
    CHECK(pthread_join(t, NULL) == 0, "join");
    CHECK(w.result == 1 && (w.revents & POLLIN), "poll returned %d, revents %#x", w.result, w.revents);
    uint32_t want = 7;
    CHECK(take(&b, &want) == 1, "the frame that woke the waiter");
    /* and a poll with nothing to come times out with 0 */
    struct pollfd pfd = {b.fd, POLLIN, 0};
    CHECK(poll(&pfd, 1, 10) == 0, "poll on an empty ring");
    printf("%s: poll() woke for a frame\n", bn);
    port_close(&a);
    port_close(&b);
    close(pp[0]);
    close(pp[1]);
    return 0;
}

/* The control requests besides REGISTER, and the answers to what is not supported. */
static int control(const char *base) {
    char an[64], bn[64];
    snprintf(an, sizeof an, "netmap:%s{0", base);
    snprintf(bn, sizeof bn, "netmap:%s}0", base);
    struct port a;
    port_open(&a, an);

    struct nmreq_port_info_get info;
    memset(&info, 0, sizeof info);
    CHECK(ctrl(a.fd, an, NETMAP_REQ_PORT_INFO_GET, &info) == 0, "PORT_INFO_GET");
    CHECK(info.nr_memsize == a.reg.nr_memsize && info.nr_tx_slots == a.reg.nr_tx_slots &&
              info.nr_mem_id == a.reg.nr_mem_id && info.nr_tx_rings == 1,
          "PORT_INFO_GET disagrees with REGISTER");

    struct nmreq_pools_info pools;
    memset(&pools, 0, sizeof pools);
    CHECK(ctrl(a.fd, "", NETMAP_REQ_POOLS_INFO_GET, &pools) == 0, "POOLS_INFO_GET");
    CHECK(pools.nr_memsize == a.reg.nr_memsize && pools.nr_buf_pool_objsize == a.tx->nr_buf_size, "pools");
    CHECK((char *)a.tx + a.tx->buf_ofs == a.mem + pools.nr_buf_pool_offset, "buffer pool offset");

    struct nmreq_port_hdr hdr = {123, 0};
    CHECK(ctrl(a.fd, an, NETMAP_REQ_PORT_HDR_GET, &hdr) == 0 && hdr.nr_hdr_len == 0, "PORT_HDR_GET");
    hdr.nr_hdr_len = 12;
    CHECK(ctrl(a.fd, an, NETMAP_REQ_PORT_HDR_SET, &hdr) == -1 && errno == EOPNOTSUPP, "PORT_HDR_SET 12");
    hdr.nr_hdr_len = 0;
    CHECK(ctrl(a.fd, an, NETMAP_REQ_PORT_HDR_SET, &hdr) == 0, "PORT_HDR_SET 0");
    hdr.nr_hdr_len = 7;
    CHECK(ctrl(a.fd, an, NETMAP_REQ_PORT_HDR_SET, &hdr) == -1 && errno == EINVAL, "PORT_HDR_SET 7");
    /* a VALE port takes a virtio-net header, as netmap's do */
    char vh[64], vu[64];
    snprintf(vh, sizeof vh, "vale%sh:p", base);
    snprintf(vu, sizeof vu, "vale%sh:unopened", base);
    struct port hv;
    port_open(&hv, vh);
    hdr.nr_hdr_len = 12;
    CHECK(ctrl(hv.fd, vh, NETMAP_REQ_PORT_HDR_SET, &hdr) == 0, "PORT_HDR_SET 12 on a VALE port");
    hdr.nr_hdr_len = 0;
    CHECK(ctrl(hv.fd, vh, NETMAP_REQ_PORT_HDR_GET, &hdr) == 0 && hdr.nr_hdr_len == 12, "PORT_HDR_GET 12");
    hdr.nr_hdr_len = 10;
    CHECK(ctrl(a.fd, vu, NETMAP_REQ_PORT_HDR_SET, &hdr) == -1 && errno == ENXIO, "PORT_HDR_SET, port not open");
    hdr.nr_hdr_len = 0;
    CHECK(ctrl(hv.fd, vh, NETMAP_REQ_PORT_HDR_SET, &hdr) == 0, "PORT_HDR_SET 0 on a VALE port");
    port_close(&hv);

    /* registered twice: EBUSY; an unknown request: EINVAL; a bad version: EINVAL */
    struct nmreq_register reg;
    memset(&reg, 0, sizeof reg);
    CHECK(ctrl(a.fd, an, NETMAP_REQ_REGISTER, &reg) == -1 && errno == EBUSY, "second REGISTER");
    CHECK(ctrl(a.fd, an, 99, &reg) == -1 && errno == EINVAL, "request 99");
    /* a switch no daemon serves: ENXIO, as netmap's kernel for a switch it lacks */
    struct nmreq_vale_attach att;
    memset(&att, 0, sizeof att);
    char vx[64];
    snprintf(vx, sizeof vx, "vale%sn:x", base);
    CHECK(ctrl(a.fd, vx, NETMAP_REQ_VALE_ATTACH, &att) == -1 && errno == ENXIO, "VALE_ATTACH");
    struct nmreq_vale_polling pol;
    memset(&pol, 0, sizeof pol);
    CHECK(ctrl(a.fd, "vale0:x", NETMAP_REQ_VALE_POLLING_ENABLE, &pol) == -1 && errno == EOPNOTSUPP, "POLLING");
    /* host rings: EOPNOTSUPP, before anything is opened */
    int fd = open("/dev/netmap", O_RDWR);
    CHECK(fd >= 0, "open");
    memset(&reg, 0, sizeof reg);
    reg.nr_mode = NR_REG_SW;
    CHECK(ctrl(fd, bn, NETMAP_REQ_REGISTER, &reg) == -1 && errno == EOPNOTSUPP, "NR_REG_SW");
    CHECK(ioctl(fd, NIOCTXSYNC, NULL) == -1 && errno == ENXIO, "a sync before register");
    CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED && errno == EINVAL, "mmap before register");
    /* an option: EOPNOTSUPP, and the option's own status says so */
    struct nmreq_opt_offsets off;
    memset(&off, 0, sizeof off);
    off.nro_opt.nro_reqtype = NETMAP_REQ_OPT_OFFSETS;
    struct nmreq_header h;
    memset(&h, 0, sizeof h);
    h.nr_version = NETMAP_API;
    h.nr_reqtype = NETMAP_REQ_REGISTER;
    snprintf(h.nr_name, sizeof h.nr_name, "%s", bn);
    memset(&reg, 0, sizeof reg);
    h.nr_body = (uint64_t)(uintptr_t)&reg;
    h.nr_options = (uint64_t)(uintptr_t)&off;
    CHECK(ioctl(fd, NIOCCTRL, &h) == -1 && errno == EOPNOTSUPP && off.nro_opt.nro_status == EOPNOTSUPP, "option");
    /* the legacy interface: the pipe's other end, named as the legacy nm_open names it */
    struct nmreq q;
    memset(&q, 0, sizeof q);
    CHECK(strlen(bn + 7) < sizeof q.nr_name, "name too long");
    memcpy(q.nr_name, bn + 7, strlen(bn + 7) + 1);
    q.nr_version = NETMAP_API;
    q.nr_flags = NR_REG_ALL_NIC;
    CHECK(ioctl(fd, NIOCREGIF, &q) == 0, "NIOCREGIF %s", q.nr_name);
    char *mem = mmap(NULL, q.nr_memsize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(mem != MAP_FAILED, "mmap after NIOCREGIF");
    struct netmap_if *nifp = (struct netmap_if *)(mem + q.nr_offset);
    struct netmap_ring *lrx = (struct netmap_ring *)((char *)nifp + nifp->ring_ofs[nifp->ni_tx_rings]);
    CHECK(nifp->ni_tx_rings == q.nr_tx_rings && q.nr_tx_rings == 1 && lrx->num_slots == q.nr_rx_slots, "legacy nifp");
    uint32_t seq = 5, want = 5;
    CHECK(put(&a, &seq, 1) == 1 && ioctl(a.fd, NIOCTXSYNC, NULL) == 0, "send to the legacy end");
    struct port lp = {fd, mem, {0}, nifp, NULL, lrx};
    CHECK(ioctl(fd, NIOCRXSYNC, NULL) == 0 && take(&lp, &want) == 1, "the legacy end receives");
    /* a VALE port, and the switches' list */
    char vn[64];
    snprintf(vn, sizeof vn, "vale%s:l", base);
    struct port v;
    port_open(&v, vn);
    struct nmreq_vale_list l;
    memset(&l, 0, sizeof l);
    char listed[NETMAP_REQ_IFNAMSIZ];
    memset(&h, 0, sizeof h);
    h.nr_version = NETMAP_API;
    h.nr_reqtype = NETMAP_REQ_VALE_LIST;
    h.nr_body = (uint64_t)(uintptr_t)&l;
    CHECK(ioctl(a.fd, NIOCCTRL, &h) == 0, "VALE_LIST walk");
    snprintf(listed, sizeof listed, "%s", h.nr_name);
    CHECK(strcmp(listed, vn) == 0, "VALE_LIST named '%s'", listed);
    /* this process's switches come first; the walk goes on over the
     * switches of any VALE daemon running, and ends with ENOENT */
    for (int n = 0;; n++) {
        l.nr_port_idx++;
        h.nr_name[0] = 0;
        if (ioctl(a.fd, NIOCCTRL, &h) == -1) {
            CHECK(errno == ENOENT, "VALE_LIST end");
            break;
        }
        CHECK(strcmp(h.nr_name, vn) != 0 && n < 100000, "VALE_LIST listed %s again", h.nr_name);
    }
    CHECK(munmap(mem, q.nr_memsize) == 0 && close(fd) == 0, "close");
    port_close(&v);
    port_close(&a);
    printf("control requests answered as netmap answers them\n");
    return 0;
}

struct sender {
    struct port *p;
    int go;   /* read: the receiver is ready */
    int done; /* written when every frame is out */
    uint32_t count;
};

static void *send_thread(void *arg) {
    struct sender *s = arg;
    char c;
    CHECK(read(s->go, &c, 1) == 1, "read go");
    uint32_t sent = 0;
    while (sent < s->count) {
        struct pollfd pfd = {s->p->fd, POLLOUT, 0};
        CHECK(poll(&pfd, 1, TIMEOUT_MS) == 1 && (pfd.revents & POLLOUT), "sender: no room after %u", sent);
        put(s->p, &sent, s->count - sent < 64 ? s->count - sent : 64);
        CHECK(ioctl(s->p->fd, NIOCTXSYNC, NULL) == 0, "NIOCTXSYNC");
    }
    /* until the receiver has taken the last frames (a sync moves only as
     * many as its rx ring has room for) */
    struct netmap_ring *r = s->p->tx;
    while (next(r, r->tail) != r->head) {
        struct pollfd pfd = {s->p->fd, POLLOUT, 0};
        CHECK(poll(&pfd, 1, TIMEOUT_MS) == 1, "sender: the last frames stay in the tx ring");
        CHECK(ioctl(s->p->fd, NIOCTXSYNC, NULL) == 0, "NIOCTXSYNC");
    }
    CHECK(write(s->done, "d", 1) == 1, "write done");
    return NULL;
}

static double thread_cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
static double wall_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* epoll: a registered netmap descriptor and a plain pipe in one set. */
static int epoll_rx(const char *base, uint32_t count) {
    char an[64], bn[64];
    snprintf(an, sizeof an, "netmap:%s{0", base);
    snprintf(bn, sizeof bn, "netmap:%s}0", base);
    struct port a, b;
    port_open(&a, an);
    port_open(&b, bn);
    int go[2], done[2];
    CHECK(pipe(go) == 0 && pipe(done) == 0, "pipe");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0, "epoll_create1");
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = 0x1111; /* the program's own data comes back */
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, b.fd, &ev) == 0, "EPOLL_CTL_ADD netmap");
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, b.fd, &ev) == -1 && errno == EEXIST, "second ADD");
    ev.data.u64 = 0x2222;
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, done[0], &ev) == 0, "EPOLL_CTL_ADD pipe");
    /* a tx end asks for room: ready at once (an empty tx ring), then removed */
    ev.events = EPOLLOUT;
    ev.data.u64 = 0x3333;
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, a.fd, &ev) == 0, "EPOLL_CTL_ADD tx");
    struct epoll_event got_ev[8];
    int n = epoll_wait(ep, got_ev, 8, TIMEOUT_MS);
    CHECK(n == 1 && got_ev[0].data.u64 == 0x3333 && (got_ev[0].events & EPOLLOUT), "EPOLLOUT: %d events", n);
    CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, a.fd, NULL) == 0, "EPOLL_CTL_DEL tx");

    /* idle: nothing comes; the wait sleeps (its CPU time is a fraction of
     * the time it waited) and answers 0 */
    double c0 = thread_cpu_ms(), w0 = wall_ms();
    n = epoll_wait(ep, got_ev, 8, 500);
    double cpu = thread_cpu_ms() - c0, wall = wall_ms() - w0;
    CHECK(n == 0, "epoll_wait on an idle set: %d", n);
    CHECK(cpu < wall / 2, "epoll_wait spun: %.1f ms of CPU in %.1f ms", cpu, wall);
    printf("idle epoll_wait: %.1f ms of CPU in %.1f ms\n", cpu, wall);

    struct sender s = {&a, go[0], done[1], count};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, send_thread, &s) == 0, "pthread_create");
    CHECK(write(go[1], "g", 1) == 1, "write go");
    uint32_t got = 0;
    int finished = 0, wakeups = 0;
    while (got < count || !finished) {
        n = epoll_pwait(ep, got_ev, 8, TIMEOUT_MS, NULL);
        CHECK(n > 0, "epoll_wait: nothing after %u frames", got);
        wakeups++;
        for (int i = 0; i < n; i++) {
            if (got_ev[i].data.u64 == 0x1111) {
                CHECK(got_ev[i].events & EPOLLIN, "netmap event %#x", got_ev[i].events);
                CHECK(take(&b, &got) > 0, "EPOLLIN with an empty ring");
            } else {
                CHECK(got_ev[i].data.u64 == 0x2222 && (got_ev[i].events & EPOLLIN), "event data %llx",
                      (unsigned long long)got_ev[i].data.u64);
                char c;
                CHECK(read(done[0], &c, 1) == 1, "read done");
                finished = 1;
            }
        }
    }
    CHECK(pthread_join(t, NULL) == 0, "join");
    CHECK(got == count, "%u of %u", got, count);
    /* after a DEL, a frame wakes nobody: the wait times out */
    CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, b.fd, NULL) == 0, "EPOLL_CTL_DEL");
    uint32_t seq = count, want = count;
    CHECK(put(&a, &seq, 1) == 1 && ioctl(a.fd, NIOCTXSYNC, NULL) == 0, "one more frame");
    CHECK(epoll_wait(ep, got_ev, 8, 50) == 0, "an event after EPOLL_CTL_DEL");
    CHECK(ioctl(b.fd, NIOCRXSYNC, NULL) == 0 && take(&b, &want) == 1, "the frame is there");
    printf("%s: %u frames received through epoll_wait in %d wake-ups\n", bn, got, wakeups);
    close(ep);
    port_close(&a);
    port_close(&b);
    return 0;
}

/* netmap's poll syncs the tx rings whatever it is asked (bridge leaves its
 * frames in the tx ring for the next poll(POLLIN) to send); a pipe end
 * whose peer left is quiet: a poll over it sleeps until its timeout. */
static int txpoll(const char *base) {
    char an[64], bn[64];
    snprintf(an, sizeof an, "netmap:%s{0", base);
    snprintf(bn, sizeof bn, "netmap:%s}0", base);
    struct port a, b;
    port_open(&a, an);
    port_open(&b, bn);
    int pp[2];
    CHECK(pipe(pp) == 0, "pipe");
    uint32_t seq = 0, want = 0;
    CHECK(put(&a, &seq, 10) == 10, "put"); /* no NIOCTXSYNC */
    for (int i = 0; want < 10; i++) {
        struct pollfd pfd[3] = {{a.fd, POLLIN, 0}, {b.fd, POLLIN, 0}, {pp[0], POLLIN, 0}};
        CHECK(poll(pfd, 3, TIMEOUT_MS) > 0, "poll: the frames left in the tx ring were not sent");
        CHECK(!(pfd[2].revents & POLLIN), "the plain pipe is empty");
        if (pfd[1].revents & POLLIN) take(&b, &want);
        CHECK(i < 1000, "poll returns without the frames");
    }
    port_close(&b);
    /* the peer is gone: the poll times out with 0, asleep meanwhile */
    struct pollfd pfd[2] = {{a.fd, POLLIN, 0}, {pp[0], POLLIN, 0}};
    double c0 = thread_cpu_ms(), w0 = wall_ms();
    int n = poll(pfd, 2, 300);
    double cpu = thread_cpu_ms() - c0, wall = wall_ms() - w0;
    CHECK(n == 0, "poll over a pipe end whose peer left: %d (revents %#x)", n, pfd[0].revents);
    CHECK(cpu < wall / 2, "poll spun: %.1f ms of CPU in %.1f ms", cpu, wall);
    /* and the plain descriptor beside it still wakes it */
    CHECK(write(pp[1], "x", 1) == 1, "write");
    CHECK(poll(pfd, 2, TIMEOUT_MS) == 1 && (pfd[1].revents & POLLIN) && !pfd[0].revents, "the plain pipe");
    printf("%s: poll(POLLIN) sent the tx ring; with the peer gone it slept (%.1f ms of CPU in %.1f ms)\n", an, cpu,
           wall);
    port_close(&a);
    close(pp[0]);
    close(pp[1]);
    return 0;
}

/* Two descriptors register the same port (tlem: a producer and a consumer
 * descriptor per interface): they share its rings; the port closes with the
 * last of them. */
static int twice(const char *base) {
    char an[64], bn[64];
    snprintf(an, sizeof an, "netmap:%s{0", base);
    snprintf(bn, sizeof bn, "netmap:%s}0", base);
    struct port a1, a2, b;
    port_open(&a1, an);
    port_open(&a2, an);
    port_open(&b, bn);
    CHECK(a1.tx == a2.tx && a1.rx == a2.rx, "two registrations, two sets of rings");
    uint32_t seq = 0, want = 0;
    CHECK(put(&a1, &seq, 3) == 3 && ioctl(a2.fd, NIOCTXSYNC, NULL) == 0, "send through the other descriptor");
    struct pollfd pfd = {b.fd, POLLIN, 0};
    CHECK(poll(&pfd, 1, TIMEOUT_MS) == 1 && take(&b, &want) == 3, "received");
    seq = want = 100;
    CHECK(put(&b, &seq, 2) == 2 && ioctl(b.fd, NIOCTXSYNC, NULL) == 0, "send back");
    pfd.fd = a1.fd;
    CHECK(poll(&pfd, 1, TIMEOUT_MS) == 1 && take(&a2, &want) == 2, "received by the shared rings");
    port_close(&a1); /* the other registration keeps the port */
    CHECK(put(&a2, &seq, 1) == 1 && ioctl(a2.fd, NIOCTXSYNC, NULL) == 0, "send after one closed");
    pfd.fd = b.fd;
    CHECK(poll(&pfd, 1, TIMEOUT_MS) == 1 && take(&b, &want) == 1, "received after one closed");
    port_close(&a2);
    port_open(&a1, an); /* closed with the last: the end can be opened afresh */
    port_close(&a1);
    port_close(&b);
    printf("%s: two registrations shared one port\n", an);
    return 0;
}

/* Copies of a netmap descriptor name one registration; fork's child may
 * not use its parent's. */
static int dups(const char *base) {
    char an[64], bn[64];
    snprintf(an, sizeof an, "netmap:%s{0", base);
    snprintf(bn, sizeof bn, "netmap:%s}0", base);
    struct port a, b;
    port_open(&a, an);
    /* a copy made before the register follows it */
    int early = open("/dev/netmap", O_RDWR);
    CHECK(early >= 0, "open");
    int early2 = dup(early);
    CHECK(early2 >= 0, "dup before register");
    memset(&b, 0, sizeof b);
    b.fd = early;
    b.reg.nr_mode = NR_REG_ALL_NIC;
    CHECK(ctrl(early, bn, NETMAP_REQ_REGISTER, &b.reg) == 0, "REGISTER");
    b.mem = mmap(NULL, b.reg.nr_memsize, PROT_READ | PROT_WRITE, MAP_SHARED, early2, 0);
    CHECK(b.mem != MAP_FAILED, "mmap through the early copy");
    b.nifp = (struct netmap_if *)(b.mem + b.reg.nr_offset);
    b.rx = (struct netmap_ring *)((char *)b.nifp + b.nifp->ring_ofs[b.nifp->ni_tx_rings]);
    int d1 = fcntl(early, F_DUPFD_CLOEXEC, 100);
    CHECK(d1 >= 100, "F_DUPFD_CLOEXEC");
    int d2 = fcntl(early, F_DUPFD, 0);
    CHECK(d2 >= 0, "F_DUPFD");
    int d5 = fcntl64(early, F_DUPFD, 0); /* what fcntl is under _FILE_OFFSET_BITS=64 */
    CHECK(d5 >= 0, "fcntl64 F_DUPFD");
    int d3 = dup(a.fd); /* a spare number, then made a copy of b's */
    CHECK(d3 >= 0 && dup2(early, d3) == d3, "dup2 over a netmap descriptor");
    int d4 = dup3(early, d1 + 1, O_CLOEXEC);
    CHECK(d4 == d1 + 1, "dup3");
    CHECK(close(early) == 0, "close the original");
    /* every copy: syncs, poll, mmap, control requests */
    int copies[] = {early2, d1, d2, d3, d4, d5};
    uint32_t seq = 0, want = 0;
    for (unsigned i = 0; i < sizeof copies / sizeof copies[0]; i++) {
        CHECK(put(&a, &seq, 1) == 1 && ioctl(a.fd, NIOCTXSYNC, NULL) == 0, "send");
        struct pollfd pfd = {copies[i], POLLIN, 0};
        CHECK(poll(&pfd, 1, TIMEOUT_MS) == 1 && (pfd.revents & POLLIN), "poll on copy %u", i);
        CHECK(take(&b, &want) == 1, "frame through copy %u", i);
        CHECK(ioctl(copies[i], NIOCRXSYNC, NULL) == 0, "NIOCRXSYNC on copy %u", i);
        CHECK(mmap(NULL, b.reg.nr_memsize, PROT_READ, MAP_SHARED, copies[i], 0) == b.mem, "mmap on copy %u", i);
        struct nmreq_port_info_get info;
        memset(&info, 0, sizeof info);
        CHECK(ctrl(copies[i], "", NETMAP_REQ_PORT_INFO_GET, &info) == 0 && info.nr_memsize == b.reg.nr_memsize,
              "PORT_INFO_GET on copy %u", i);
        struct nmreq_register again;
        memset(&again, 0, sizeof again);
        CHECK(ctrl(copies[i], bn, NETMAP_REQ_REGISTER, &again) == -1 && errno == EBUSY, "one registration");
    }
    /* the child of a fork: its parent's descriptor is refused, closing it harms nothing */
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        int ok = ioctl(d1, NIOCRXSYNC, NULL) == -1 && errno == EOPNOTSUPP;
        struct pollfd pfd = {d1, POLLIN, 0};
        ok = ok && poll(&pfd, 1, TIMEOUT_MS) == 1 && (pfd.revents & POLLERR);
        ok = ok && close(d1) == 0 && close(a.fd) == 0;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the child was not refused (status %#x)", status);
    CHECK(put(&a, &seq, 1) == 1 && ioctl(a.fd, NIOCTXSYNC, NULL) == 0, "send after the fork");
    struct pollfd pfd = {d1, POLLIN, 0};
    CHECK(poll(&pfd, 1, TIMEOUT_MS) == 1 && take(&b, &want) == 1, "the parent's port works after the fork");
    /* the registration ends with the last copy: then the other end's link is down */
    CHECK(close(early2) == 0 && close(d1) == 0 && close(d2) == 0 && close(d3) == 0 && close(d5) == 0, "close");
    CHECK(put(&a, &seq, 1) == 1 && ioctl(a.fd, NIOCTXSYNC, NULL) == 0, "send to the last copy");
    pfd.fd = d4;
    CHECK(poll(&pfd, 1, TIMEOUT_MS) == 1 && take(&b, &want) == 1, "the last copy keeps the registration");
    CHECK(close(d4) == 0, "close the last copy");
    struct port b2;
    port_open(&b2, bn); /* the end is free again */
    port_close(&b2);
    printf("%s: %u copies of one registration, a child of fork refused\n", bn, 6u);
    port_close(&a);
    return 0;
}

/* One of vale-ctl's requests. A refusal prints "errno=N" (the preload's
 * stderr line names the request) and exits 3. */
static int vale_request(const char *op, const char *name) {
    int fd = open("/dev/netmap", O_RDWR);
    CHECK(fd >= 0, "open /dev/netmap");
    struct nmreq_vale_attach att;
    struct nmreq_vale_detach det;
    struct nmreq_vale_newif nif;
    struct nmreq_vale_list lst;
    memset(&att, 0, sizeof att);
    memset(&det, 0, sizeof det);
    memset(&nif, 0, sizeof nif);
    memset(&lst, 0, sizeof lst);
    struct nmreq_header h;
    memset(&h, 0, sizeof h);
    h.nr_version = NETMAP_API;
    snprintf(h.nr_name, sizeof h.nr_name, "%s", name);
    if (!strcmp(op, "attach")) {
        att.reg.nr_mode = NR_REG_ALL_NIC; /* as vale-ctl -a */
        h.nr_reqtype = NETMAP_REQ_VALE_ATTACH, h.nr_body = (uint64_t)(uintptr_t)&att;
    } else if (!strcmp(op, "detach")) {
        h.nr_reqtype = NETMAP_REQ_VALE_DETACH, h.nr_body = (uint64_t)(uintptr_t)&det;
    } else if (!strcmp(op, "newif")) {
        h.nr_reqtype = NETMAP_REQ_VALE_NEWIF, h.nr_body = (uint64_t)(uintptr_t)&nif;
    } else if (!strcmp(op, "delif")) {
        h.nr_reqtype = NETMAP_REQ_VALE_DELIF; /* no body, as vale-ctl -r */
    } else {
        h.nr_reqtype = NETMAP_REQ_VALE_LIST, h.nr_body = (uint64_t)(uintptr_t)&lst;
    }
    if (h.nr_reqtype == NETMAP_REQ_VALE_LIST && !*name) { /* the walk, as vale-ctl -l */
        int n = 0;
        for (;; lst.nr_port_idx++, n++) {
            h.nr_name[0] = 0;
            if (ioctl(fd, NIOCCTRL, &h) < 0) {
                if (errno == ENOENT) break;
                printf("errno=%d\n", errno);
                return 3;
            }
            printf("%s bridge_idx %u port_idx %u\n", h.nr_name, lst.nr_bridge_idx, lst.nr_port_idx);
            CHECK(n < 100000, "the walk does not end");
        }
        printf("listed %d ports\n", n);
        close(fd);
        return 0;
    }
    if (ioctl(fd, NIOCCTRL, &h) < 0) {
        printf("errno=%d\n", errno);
        return 3;
    }
    if (h.nr_reqtype == NETMAP_REQ_VALE_ATTACH) printf("attached %s port_index %u\n", name, att.port_index);
    else if (h.nr_reqtype == NETMAP_REQ_VALE_DETACH) printf("detached %s port_index %u\n", name, det.port_index);
    else if (h.nr_reqtype == NETMAP_REQ_VALE_LIST)
        printf("%s bridge_idx %u port_idx %u\n", name, lst.nr_bridge_idx, lst.nr_port_idx);
    else if (h.nr_reqtype == NETMAP_REQ_VALE_NEWIF) /* netmap writes the port's geometry back */
        printf("newif %s done tx_slots %u rx_slots %u tx_rings %u rx_rings %u mem_id %u\n", name, nif.nr_tx_slots,
               nif.nr_rx_slots, nif.nr_tx_rings, nif.nr_rx_rings, nif.nr_mem_id);
    else printf("%s %s done\n", op, name);
    close(fd);
    return 0;
}

static int register_only(const char *name) {
    int fd = open("/dev/netmap", O_RDWR);
    CHECK(fd >= 0, "open /dev/netmap");
    struct nmreq_register reg;
    memset(&reg, 0, sizeof reg);
    reg.nr_mode = NR_REG_ALL_NIC;
    if (ctrl(fd, name, NETMAP_REQ_REGISTER, &reg) < 0) {
        printf("errno=%d\n", errno);
        return 3;
    }
    printf("registered %s tx_slots %u rx_slots %u tx_rings %u rx_rings %u\n", name, reg.nr_tx_slots, reg.nr_rx_slots,
           reg.nr_tx_rings, reg.nr_rx_rings);
    close(fd);
    return 0;
}

static const uint8_t my_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x0a, 0x02};

static uint16_t csum(const void *data, size_t len) {
    const uint8_t *p = data;
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1) sum += (uint32_t)(p[len - 1] << 8);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Sends one frame of `len` bytes (padded to 60). */
static void send_frame(struct port *p, const uint8_t *frame, uint32_t len) {
    struct netmap_ring *r = p->tx;
    for (int i = 0; space(r) == 0; i++) {
        struct pollfd pfd = {p->fd, POLLOUT, 0};
        CHECK(poll(&pfd, 1, TIMEOUT_MS) == 1, "no room to send");
        CHECK(i < 1000, "no room to send");
    }
    struct netmap_slot *s = &r->slot[r->cur];
    char *b = buf(r, s->buf_idx);
    memset(b, 0, 60);
    memcpy(b, frame, len);
    s->len = len < 60 ? 60 : len;
    s->flags = 0;
    r->head = r->cur = next(r, r->cur);
    CHECK(ioctl(p->fd, NIOCTXSYNC, NULL) == 0, "NIOCTXSYNC");
}

/* Waits up to `ms` for a frame `match` accepts; copies it to `out`. Other
 * frames (the kernel's IPv6 router solicitations, ...) are skipped. */
static int await_frame(struct port *p, int (*match)(const uint8_t *, uint32_t, const void *), const void *arg,
                       uint8_t *out, int ms) {
    struct netmap_ring *r = p->rx;
    for (int waited = 0; waited < ms; waited += 100) {
        struct pollfd pfd = {p->fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) < 0) return 0;
        while (r->cur != r->tail) {
            struct netmap_slot *s = &r->slot[r->cur];
            const uint8_t *b = (const uint8_t *)buf(r, s->buf_idx);
            int hit = s->len <= 2048 && match(b, s->len, arg);
            if (hit) memcpy(out, b, s->len < 128 ? s->len : 128);
            r->head = r->cur = next(r, r->cur);
            if (hit) return 1;
        }
    }
    return 0;
}

static int is_arp_reply(const uint8_t *b, uint32_t len, const void *peer) {
    return len >= 42 && b[12] == 0x08 && b[13] == 0x06 && b[20] == 0 && b[21] == 2 && !memcmp(b + 28, peer, 4) &&
           !memcmp(b, my_mac, 6);
}

struct echo_id {
    const uint8_t *peer;
    uint16_t seq;
};
static int is_echo_reply(const uint8_t *b, uint32_t len, const void *arg) {
    const struct echo_id *e = arg;
    return len >= 42 && b[12] == 0x08 && b[13] == 0x00 && b[23] == 1 && !memcmp(b + 26, e->peer, 4) &&
           b[34] == 0 && (uint16_t)(b[40] << 8 | b[41]) == e->seq;
}

/* ARP for PEER from ME, then COUNT pings: the kernel on the far side of the
 * switch (a tap with PEER's address) must answer every one. A request left
 * unanswered for a second is sent again (the tap may come up meanwhile). */
static int arp_ping(const char *name, const char *me_s, const char *peer_s, uint32_t count) {
    uint8_t me[4], peer[4], peer_mac[6], f[128], got[128];
    CHECK(inet_pton(AF_INET, me_s, me) == 1 && inet_pton(AF_INET, peer_s, peer) == 1, "addresses");
    struct port p;
    port_open(&p, name);
    memset(f, 0, sizeof f);
    memset(f, 0xff, 6);
    memcpy(f + 6, my_mac, 6);
    f[12] = 0x08, f[13] = 0x06;
    const uint8_t arp_hdr[8] = {0, 1, 8, 0, 6, 4, 0, 1}; /* Ethernet, IPv4, request */
    memcpy(f + 14, arp_hdr, 8);
    memcpy(f + 22, my_mac, 6);
    memcpy(f + 28, me, 4);
    memcpy(f + 38, peer, 4);
    int answered = 0;
    for (int i = 0; i < 30 && !answered; i++) {
        send_frame(&p, f, 42);
        answered = await_frame(&p, is_arp_reply, peer, got, 1000);
    }
    CHECK(answered, "no ARP reply from %s", peer_s);
    memcpy(peer_mac, got + 22, 6);
    printf("ARP: %s is at %02x:%02x:%02x:%02x:%02x:%02x\n", peer_s, peer_mac[0], peer_mac[1], peer_mac[2],
           peer_mac[3], peer_mac[4], peer_mac[5]);
    uint32_t replies = 0;
    for (uint16_t seq = 1; seq <= count; seq++) {
        memset(f, 0, sizeof f);
        memcpy(f, peer_mac, 6);
        memcpy(f + 6, my_mac, 6);
        f[12] = 0x08, f[13] = 0x00;
        uint8_t *ip = f + 14, *icmp = f + 34;
        ip[0] = 0x45, ip[3] = 28 + 32, ip[8] = 64, ip[9] = 1; /* 20 + 8 + 32 bytes, TTL 64, ICMP */
        memcpy(ip + 12, me, 4);
        memcpy(ip + 16, peer, 4);
        uint16_t c = csum(ip, 20);
        ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
        icmp[0] = 8; /* echo request */
        icmp[4] = 0x4e, icmp[5] = 0x4d, icmp[6] = (uint8_t)(seq >> 8), icmp[7] = (uint8_t)seq;
        for (int k = 0; k < 32; k++) icmp[8 + k] = (uint8_t)k;
        c = csum(icmp, 40);
        icmp[2] = (uint8_t)(c >> 8), icmp[3] = (uint8_t)c;
        struct echo_id e = {peer, seq};
        int ok = 0;
        for (int i = 0; i < 10 && !ok; i++) {
            send_frame(&p, f, 14 + 60);
            ok = await_frame(&p, is_echo_reply, &e, got, 2000);
        }
        CHECK(ok, "no echo reply to ping %u", seq);
        replies++;
    }
    printf("%s: %u pings of %s answered\n", name, replies, peer_s);
    port_close(&p);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "list")) return vale_request("list", "");
    if (argc < 3) {
        fprintf(stderr, "usage: netmap_client pipe|vale|tx|rx|wakeup|control|attach|detach|newif|delif|list|register|arp "
                        "NAME [...]\n");
        return 2;
    }
    const char *mode = argv[1], *name = argv[2];
    uint32_t count = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 0) : 1000;
    char a[64], b[64];
    if (!strcmp(mode, "pipe")) {
        snprintf(a, sizeof a, "netmap:%s{0", name);
        snprintf(b, sizeof b, "netmap:%s}0", name);
        return lockstep(a, b, count);
    }
    if (!strcmp(mode, "vale")) {
        snprintf(a, sizeof a, "vale%s:a", name);
        snprintf(b, sizeof b, "vale%s:b", name);
        return lockstep(a, b, count);
    }
    if (!strcmp(mode, "tx")) {
        sigset_t usr1;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        CHECK(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0, "sigprocmask");
        return tx(name, count);
    }
    if (!strcmp(mode, "rx")) return rx(name, count);
    if (!strcmp(mode, "wakeup")) return wakeup(name);
    if (!strcmp(mode, "control")) return control(name);
    if (!strcmp(mode, "epoll")) return epoll_rx(name, count);
    if (!strcmp(mode, "dup")) return dups(name);
    if (!strcmp(mode, "txpoll")) return txpoll(name);
    if (!strcmp(mode, "twice")) return twice(name);
    if (!strcmp(mode, "attach") || !strcmp(mode, "detach") || !strcmp(mode, "newif") || !strcmp(mode, "delif") ||
        !strcmp(mode, "list"))
        return vale_request(mode, name);
    if (!strcmp(mode, "register")) return register_only(name);
    if (!strcmp(mode, "arp")) {
        if (argc < 6) return 2;
        return arp_ping(name, argv[3], argv[4], (uint32_t)strtoul(argv[5], NULL, 0));
    }
    fprintf(stderr, "netmap_client: unknown mode %s\n", mode);
    return 2;
}
