/*
 * train-sim: a stand-in for an ML training job, used by trainctl's demos and
 * tests. It prints one "Epoch N/M loss=X" line per epoch, writes atomic JSON
 * checkpoints and resumes from them, and misbehaves on demand: it can crash,
 * hang, leak memory, ignore SIGTERM, fork DataLoader-like workers that outlive
 * it, leave a setsid()ed orphan behind, burn CPU or flood stdout. The loss
 * sequence is a deterministic function of --seed, and the PRNG state travels
 * in the checkpoint, so a resumed run prints exactly what an uninterrupted run
 * would have printed. Only libc and libm.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG "train-sim"
#define MAX_WORKERS 1024
#define MAX_LEAK_MB (1L << 20)
#define SIGNAL_POLL_S 0.05
#define WORKER_GRACE_S 1.0
#define FILLER_LINE_BYTES 100
#define CHECKPOINT_MAX_BYTES 4096
#define RNG_MULT 0x5DEECE66DULL
#define RNG_INC 0xBULL
#define RNG_MASK ((1ULL << 48) - 1)

struct options {
    long epochs;
    bool epochs_set;
    double epoch_time;
    long checkpoint_every;
    const char *checkpoint_dir;
    bool checkpoint_dir_set;
    const char *resume;
    long crash_at;
    bool crash_always;
    long hang_at;
    long leak_mb;
    bool ignore_term;
    long workers;
    bool orphan;
    bool cpu_burn;
    long print_rate;
    unsigned long seed;
};

struct train_state {
    long epoch;          /* last completed epoch, 0 when none */
    double loss;         /* loss printed for that epoch */
    uint64_t rng;        /* 48-bit LCG state, < 2^53 so JSON keeps it exact */
    unsigned long seed;
    bool resumed;
    char ckdir[PATH_MAX];
};

enum option_id {
    OPT_EPOCHS = 256, OPT_EPOCH_TIME, OPT_CHECKPOINT_EVERY, OPT_CHECKPOINT_DIR,
    OPT_RESUME, OPT_CRASH_AT, OPT_CRASH_ALWAYS, OPT_HANG_AT, OPT_LEAK_MB,
    OPT_IGNORE_TERM, OPT_WORKERS, OPT_ORPHAN, OPT_CPU_BURN, OPT_PRINT_RATE,
    OPT_SEED,
};

static const struct option long_options[] = {
    {"epochs", required_argument, NULL, OPT_EPOCHS},
    {"epoch-time", required_argument, NULL, OPT_EPOCH_TIME},
    {"checkpoint-every", required_argument, NULL, OPT_CHECKPOINT_EVERY},
    {"checkpoint-dir", required_argument, NULL, OPT_CHECKPOINT_DIR},
    {"resume", required_argument, NULL, OPT_RESUME},
    {"crash-at", required_argument, NULL, OPT_CRASH_AT},
    {"crash-always", no_argument, NULL, OPT_CRASH_ALWAYS},
    {"hang-at", required_argument, NULL, OPT_HANG_AT},
    {"leak-mb", required_argument, NULL, OPT_LEAK_MB},
    {"ignore-term", no_argument, NULL, OPT_IGNORE_TERM},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"orphan", no_argument, NULL, OPT_ORPHAN},
    {"cpu-burn", no_argument, NULL, OPT_CPU_BURN},
    {"print-rate", required_argument, NULL, OPT_PRINT_RATE},
    {"seed", required_argument, NULL, OPT_SEED},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char usage_text[] =
    "Usage: train-sim [OPTION]...\n"
    "Simulate an ML training job: epoch/loss lines, checkpoints, and faults.\n"
    "\n"
    "  --epochs N              number of epochs to run (default 10)\n"
    "  --epoch-time SECONDS    time each epoch takes, may be fractional or 0 (default 1.0)\n"
    "  --checkpoint-every K    write a checkpoint every K epochs, 0 = never (default 0)\n"
    "  --checkpoint-dir DIR    where checkpoints go, created if missing (default checkpoints,\n"
    "                          or the directory of the --resume file)\n"
    "  --resume PATH           continue from a checkpoint written by train-sim\n"
    "  --crash-at E            exit 1 at the start of epoch E unless resumed from a checkpoint\n"
    "  --crash-always          make --crash-at and --hang-at fault in resumed runs too\n"
    "  --hang-at E             at epoch E stop printing and block until killed, unless\n"
    "                          resumed from a checkpoint (a transient hang)\n"
    "  --leak-mb N             allocate and touch N MiB per epoch, never freed\n"
    "  --ignore-term           ignore SIGTERM (workers too); SIGINT still stops the run\n"
    "  --workers N             fork N worker processes that do not exit with the parent\n"
    "  --orphan                leave behind a setsid()ed grandchild that sleeps forever\n"
    "  --cpu-burn              busy-loop through epoch time instead of sleeping (workers too)\n"
    "  --print-rate BYTES      also print ~100-byte 'data' lines at BYTES per second\n"
    "  --seed N                seed for the loss noise (default 1)\n"
    "  -h, --help              show this help and exit\n"
    "\n"
    "SIGTERM or SIGINT saves a checkpoint of the last completed epoch and exits 0.\n";

static volatile sig_atomic_t got_sigterm;
static volatile sig_atomic_t got_sigint;
static bool term_ignored;

static pid_t worker_pids[MAX_WORKERS];
static long worker_count;

static void *volatile leak_head;   /* leaked blocks stay reachable: no LSan noise */
static volatile unsigned long burn_sink;

static struct {
    long rate;
    double start;
    double bytes;
    unsigned long long seq;
} filler;

/* ---- small utilities ---------------------------------------------------- */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints one line to stdout; stdout is line-buffered, so it is flushed now. */
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static void fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* Prints "train-sim: <message>" to stderr and exits with status. */
static void fail(int status, const char *fmt, ...)
{
    va_list ap;
    fputs(PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(status);
}

static double clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps up to `seconds`; a signal cuts the sleep short, which callers want. */
static void sleep_seconds(double seconds)
{
    if (seconds <= 0)
        return;
    struct timespec ts = {
        .tv_sec = (time_t)seconds,
        .tv_nsec = (long)((seconds - floor(seconds)) * 1e9),
    };
    nanosleep(&ts, NULL);
}

/* Spins for a while without sleeping, so the CPU is busy. */
static void cpu_spin(void)
{
    for (int i = 0; i < 100000; i++)
        burn_sink = burn_sink + (unsigned long)i;
}

/* ---- command line ------------------------------------------------------- */

/* Parses a decimal integer in [min, max] or exits 2 naming the option. */
static long arg_long(const char *opt, const char *text, long min, long max, const char *expected)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    bool digits = text[0] >= '0' && text[0] <= '9';
    if (!digits || errno || *end || value < min || value > max)
        fail(2, "%s: expected %s, got '%s'", opt, expected, text);
    return value;
}

/* Parses a non-negative, finite number of seconds or exits 2. */
static double arg_seconds(const char *opt, const char *text)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    bool digits = (text[0] >= '0' && text[0] <= '9') || text[0] == '.';
    if (!digits || errno || *end || !isfinite(value) || value < 0 || value > 1e6)
        fail(2, "%s: expected a non-negative number of seconds, got '%s'", opt, text);
    return value;
}

static void options_defaults(struct options *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 10;
    o->epoch_time = 1.0;
    o->checkpoint_dir = "checkpoints";
    o->seed = 1;
}

/* Applies one option whose argument (if any) is optarg. */
static void option_apply(struct options *o, int id, const char *arg)
{
    static const char positive[] = "a positive integer";
    static const char count[] = "a non-negative integer";
    switch (id) {
    case OPT_EPOCHS:
        o->epochs = arg_long("--epochs", arg, 1, LONG_MAX, positive);
        o->epochs_set = true;
        break;
    case OPT_EPOCH_TIME: o->epoch_time = arg_seconds("--epoch-time", arg); break;
    case OPT_CHECKPOINT_EVERY:
        o->checkpoint_every = arg_long("--checkpoint-every", arg, 0, LONG_MAX, count);
        break;
    case OPT_CHECKPOINT_DIR:
        if (!*arg)
            fail(2, "--checkpoint-dir: expected a directory, got ''");
        o->checkpoint_dir = arg;
        o->checkpoint_dir_set = true;
        break;
    case OPT_RESUME: o->resume = arg; break;
    case OPT_CRASH_AT: o->crash_at = arg_long("--crash-at", arg, 1, LONG_MAX, positive); break;
    case OPT_CRASH_ALWAYS: o->crash_always = true; break;
    case OPT_HANG_AT: o->hang_at = arg_long("--hang-at", arg, 1, LONG_MAX, positive); break;
    case OPT_LEAK_MB:
        o->leak_mb = arg_long("--leak-mb", arg, 0, MAX_LEAK_MB, "an integer between 0 and 1048576");
        break;
    case OPT_IGNORE_TERM: o->ignore_term = true; break;
    case OPT_WORKERS:
        o->workers = arg_long("--workers", arg, 0, MAX_WORKERS, "an integer between 0 and 1024");
        break;
    case OPT_ORPHAN: o->orphan = true; break;
    case OPT_CPU_BURN: o->cpu_burn = true; break;
    case OPT_PRINT_RATE:
        o->print_rate = arg_long("--print-rate", arg, 0, 1L << 30, "a byte count per second between 0 and 1073741824");
        break;
    case OPT_SEED:
        o->seed = (unsigned long)arg_long("--seed", arg, 0, UINT32_MAX, "an integer between 0 and 4294967295");
        break;
    }
}

/* Reports an unknown option or a missing argument, then exits 2. */
static void option_reject(int code, char **argv)
{
    const char *name = argv[optind - 1];
    if (code == ':')
        fail(2, "%s: expected an argument (see --help)", name);
    if (optopt && optopt < 256)
        fail(2, "unknown option '-%c' (see --help)", optopt);
    fail(2, "unknown or ambiguous option '%s' (see --help)", name);
}

static void options_parse(int argc, char **argv, struct options *o)
{
    int id;
    options_defaults(o);
    opterr = 0;
    while ((id = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        if (id == 'h') {
            fputs(usage_text, stdout);
            exit(0);
        }
        if (id == '?' || id == ':')
            option_reject(id, argv);
        option_apply(o, id, optarg);
    }
    if (optind < argc)
        fail(2, "unexpected argument '%s' (train-sim takes only options, see --help)", argv[optind]);
    if (o->crash_always && !o->crash_at && !o->hang_at)
        fail(2, "--crash-always: expected --crash-at E or --hang-at E as well");
}

/* ---- signals ------------------------------------------------------------ */

/* Only records the signal; the main loop acts on it. */
static void signal_record(int sig)
{
    if (sig == SIGTERM)
        got_sigterm = 1;
    else
        got_sigint = 1;
}

static void signals_install(bool ignore_term)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = signal_record;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    term_ignored = ignore_term;
}

/* Gives a forked child default dispositions (SIGTERM ignored if asked). */
static void signals_reset_child(bool ignore_term)
{
    sigset_t none;
    signal(SIGTERM, ignore_term ? SIG_IGN : SIG_DFL);
    signal(SIGINT, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Returns the signal that should stop the run, or 0; reports ignored SIGTERMs. */
static int signal_pending_stop(void)
{
    if (term_ignored && got_sigterm) {
        got_sigterm = 0;
        say("Ignoring SIGTERM");
    }
    if (got_sigterm)
        return SIGTERM;
    if (got_sigint)
        return SIGINT;
    return 0;
}

/* ---- deterministic loss ------------------------------------------------- */

static uint64_t rng_seed(unsigned long seed)
{
    return (((uint64_t)seed << 16) | 0x330E) & RNG_MASK;
}

/* Advances the drand48-style LCG and returns a number in [0, 1). */
static double rng_next_unit(uint64_t *state)
{
    *state = (*state * RNG_MULT + RNG_INC) & RNG_MASK;
    return (double)(*state >> 16) / 4294967296.0;
}

/* 2.5 * exp(-0.05 * epoch) plus noise in [0, 0.01), so never negative. */
static double loss_for_epoch(long epoch, uint64_t *rng)
{
    double noise = rng_next_unit(rng) * 0.01;
    return 2.5 * exp(-0.05 * (double)epoch) + noise;
}

/* ---- checkpoint files --------------------------------------------------- */

/* Creates path and its missing parents, like mkdir -p. */
static int dir_create_parents(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int dir_sync(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Creates (or truncates) path, writes len bytes and fsyncs before closing. */
static int file_write_synced(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    if (fsync(fd) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return close(fd);
}

static int checkpoint_format(const struct train_state *st, long epochs, char *buf, size_t size)
{
    return snprintf(buf, size,
                    "{\"epoch\": %ld, \"epochs\": %ld, \"loss\": %.4f, \"seed\": %lu, \"rng\": %llu}\n",
                    st->epoch, epochs, st->loss, st->seed, (unsigned long long)st->rng);
}

/* Writes <dir>/checkpoint_epoch_N.json atomically: tmp file, fsync, rename, fsync dir. */
static int checkpoint_write(const struct train_state *st, long epochs, char *path, size_t size)
{
    char tmp[PATH_MAX], json[256];
    int len = checkpoint_format(st, epochs, json, sizeof json);
    int n1 = snprintf(path, size, "%s/checkpoint_epoch_%ld.json", st->ckdir, st->epoch);
    int n2 = snprintf(tmp, sizeof tmp, "%s/.checkpoint_epoch_%ld.json.tmp", st->ckdir, st->epoch);
    if (n1 >= (int)size || n2 >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (dir_create_parents(st->ckdir) != 0)
        return -1;
    if (file_write_synced(tmp, json, (size_t)len) != 0 || rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    return dir_sync(st->ckdir);
}

/* Reads a small whole file into buf as a NUL-terminated string. */
static int file_read_small(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, size - 1, f);
    bool too_big = n == size - 1 && fgetc(f) != EOF;
    bool failed = ferror(f);
    fclose(f);
    if (failed || too_big) {
        errno = failed ? EIO : EFBIG;
        return -1;
    }
    buf[n] = '\0';
    return 0;
}

/* Finds `"key": <value>` in flat JSON text and returns where the value starts. */
static const char *json_value(const char *text, const char *key)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    for (const char *p = strstr(text, quoted); p; p = strstr(p + 1, quoted)) {
        const char *v = p + strlen(quoted);
        v += strspn(v, " \t\r\n");
        if (*v != ':')
            continue;
        v++;
        return v + strspn(v, " \t\r\n");
    }
    return NULL;
}

/* Reads a non-negative JSON integer field; false if absent or malformed. */
static bool json_uint(const char *text, const char *key, unsigned long long *out)
{
    const char *v = json_value(text, key);
    char *end;
    if (!v || *v < '0' || *v > '9')
        return false;
    errno = 0;
    *out = strtoull(v, &end, 10);
    return errno == 0 && strchr(",} \t\r\n", *end) && *end;
}

static bool json_double(const char *text, const char *key, double *out)
{
    const char *v = json_value(text, key);
    char *end;
    if (!v)
        return false;
    *out = strtod(v, &end);
    return end != v && isfinite(*out) && *out >= 0;
}

/* Loads a checkpoint into st; returns the name of the bad field, or NULL. */
static const char *checkpoint_parse(const char *text, struct train_state *st, long *epochs)
{
    unsigned long long epoch, total, seed, rng;
    if (text[strspn(text, " \t\r\n")] != '{')
        return "the opening '{'";
    if (!json_uint(text, "epoch", &epoch) || epoch < 1 || epoch > LONG_MAX)
        return "\"epoch\"";
    if (!json_uint(text, "epochs", &total) || total < 1 || total > LONG_MAX)
        return "\"epochs\"";
    if (!json_double(text, "loss", &st->loss))
        return "\"loss\"";
    if (!json_uint(text, "seed", &seed) || seed > UINT32_MAX)
        return "\"seed\"";
    if (!json_uint(text, "rng", &rng) || rng > RNG_MASK)
        return "\"rng\"";
    st->epoch = (long)epoch;
    st->seed = (unsigned long)seed;
    st->rng = rng;
    *epochs = (long)total;
    return NULL;
}

/* Restores state from --resume PATH or exits 2 naming the file. */
static void checkpoint_load(const char *path, struct train_state *st, long *epochs)
{
    char text[CHECKPOINT_MAX_BYTES];
    if (file_read_small(path, text, sizeof text) != 0)
        fail(2, "--resume: cannot read checkpoint '%s': %s", path, strerror(errno));
    const char *bad = checkpoint_parse(text, st, epochs);
    if (bad)
        fail(2, "--resume: '%s' is not a train-sim checkpoint (missing or invalid %s)", path, bad);
    st->resumed = true;
}

/* Sets st->ckdir: --checkpoint-dir, else the --resume file's directory, else the default. */
static void checkpoint_dir_choose(const struct options *o, struct train_state *st)
{
    const char *dir = o->checkpoint_dir;
    size_t len = strlen(dir);
    if (o->resume && !o->checkpoint_dir_set) {
        const char *slash = strrchr(o->resume, '/');
        dir = slash ? o->resume : ".";
        len = slash ? (size_t)(slash - o->resume) : 1;
        if (len == 0)
            len = 1;   /* "/file.json" lives in "/" */
    }
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len >= sizeof st->ckdir)
        fail(2, "--checkpoint-dir: path too long: '%s'", dir);
    memcpy(st->ckdir, dir, len);
    st->ckdir[len] = '\0';
}

/* ---- workers and orphans ------------------------------------------------ */

/* A forked worker: sleeps (or burns CPU) forever, never watches its parent. */
static void worker_main(const struct options *o) __attribute__((noreturn));
static void worker_main(const struct options *o)
{
    signals_reset_child(o->ignore_term);
    for (;;) {
        if (o->cpu_burn)
            cpu_spin();
        else
            sleep(1);
    }
}

static void workers_spawn(const struct options *o)
{
    char list[MAX_WORKERS * 12] = "";
    size_t used = 0;
    for (long i = 0; i < o->workers; i++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
            fail(1, "cannot fork worker %ld: %s", i + 1, strerror(errno));
        if (pid == 0)
            worker_main(o);
        worker_pids[worker_count++] = pid;
        used += (size_t)snprintf(list + used, sizeof list - used, " %d", (int)pid);
    }
    if (o->workers > 0)
        say("Started %ld workers:%s", o->workers, list);
}

/* Reaps workers that have exited; returns how many are still running. */
static long workers_reap(bool block)
{
    long running = 0;
    for (long i = 0; i < worker_count; i++) {
        if (worker_pids[i] <= 0)
            continue;
        pid_t r;
        do
            r = waitpid(worker_pids[i], NULL, block ? 0 : WNOHANG);
        while (r < 0 && errno == EINTR);
        if (r == 0)
            running++;
        else
            worker_pids[i] = 0;
    }
    return running;
}

static void workers_signal(int sig)
{
    for (long i = 0; i < worker_count; i++)
        if (worker_pids[i] > 0)
            kill(worker_pids[i], sig);
}

/* SIGTERMs the workers, SIGKILLs any still alive after a grace period, reaps all. */
static void workers_stop(void)
{
    if (worker_count == 0)
        return;
    workers_signal(SIGTERM);
    double deadline = clock_now() + WORKER_GRACE_S;
    while (workers_reap(false) > 0 && clock_now() < deadline)
        sleep_seconds(0.01);
    if (workers_reap(false) > 0) {
        workers_signal(SIGKILL);
        workers_reap(true);
    }
    worker_count = 0;
}

/* The orphan: a new session that sleeps forever; it reports its pid, then waits. */
static void orphan_main(int report_fd) __attribute__((noreturn));
static void orphan_main(int report_fd)
{
    signals_reset_child(false);
    setsid();
    pid_t self = getpid();
    ssize_t n = write(report_fd, &self, sizeof self);
    close(report_fd);
    if (n != (ssize_t)sizeof self)
        _exit(1);
    for (;;)
        sleep(1);
}

/* Double-forks a setsid()ed grandchild that nobody will clean up but the supervisor. */
static void orphan_spawn(void)
{
    int fds[2];
    pid_t orphan = 0;
    if (pipe2(fds, O_CLOEXEC) != 0)
        fail(1, "cannot create pipe for --orphan: %s", strerror(errno));
    fflush(NULL);
    pid_t child = fork();
    if (child < 0)
        fail(1, "cannot fork for --orphan: %s", strerror(errno));
    if (child == 0) {
        close(fds[0]);
        if (fork() == 0)
            orphan_main(fds[1]);
        _exit(0);
    }
    close(fds[1]);
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
        ;
    ssize_t n;
    do
        n = read(fds[0], &orphan, sizeof orphan);
    while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n != (ssize_t)sizeof orphan)
        fail(1, "--orphan: the orphan process did not start");
    say("Started orphan pid %d (session %d)", (int)orphan, (int)orphan);
}

/* ---- epoch pacing, filler output, leaks --------------------------------- */

static void leak_allocate(long mb)
{
    size_t bytes = (size_t)mb << 20;
    if (bytes == 0)
        return;
    void **block = malloc(bytes);
    if (!block)
        fail(1, "--leak-mb: cannot allocate %ld MiB: out of memory", mb);
    memset(block, 0xA5, bytes);
    block[0] = leak_head;
    leak_head = block;
}

static void filler_start(long rate)
{
    filler.rate = rate;
    filler.start = clock_now();
}

/* Prints "data <seq> xxx...", about FILLER_LINE_BYTES long; returns its length. */
static int filler_print_line(unsigned long long seq)
{
    char pad[FILLER_LINE_BYTES];
    int head = snprintf(NULL, 0, "data %llu ", seq);
    int width = FILLER_LINE_BYTES - head - 1;
    if (width < 1)
        width = 1;
    memset(pad, 'x', (size_t)width);
    pad[width] = '\0';
    say("data %llu %s", seq, pad);
    return head + width + 1;
}

/* Prints as many filler lines as the rate allows up to `now`. */
static void filler_emit(double now)
{
    if (filler.rate <= 0)
        return;
    double owed = (double)filler.rate * (now - filler.start);
    while (filler.bytes < owed)
        filler.bytes += filler_print_line(++filler.seq);
}

/* How long to sleep: until the deadline, the next filler line, or the next signal check. */
static double wait_slice(double now, double deadline)
{
    double slice = fmin(deadline - now, SIGNAL_POLL_S);
    if (filler.rate > 0) {
        double due = filler.start + filler.bytes / (double)filler.rate + 1e-6;
        slice = fmin(slice, due - now);
    }
    return slice;
}

/* Spends one epoch's time; returns the signal that interrupted it, or 0. */
static int epoch_wait(double seconds, bool cpu_burn)
{
    double deadline = clock_now() + seconds;
    for (;;) {
        int sig = signal_pending_stop();
        if (sig)
            return sig;
        double now = clock_now();
        filler_emit(now);
        if (now >= deadline)
            return 0;
        if (!cpu_burn)
            sleep_seconds(wait_slice(now, deadline));
    }
}

/* ---- the training loop -------------------------------------------------- */

static void hang_forever(long epoch) __attribute__((noreturn));

/* Goes silent at `epoch`; only SIGTERM/SIGINT (unless ignored) ends it, with no checkpoint. */
static void hang_forever(long epoch)
{
    say("Hanging at epoch %ld", epoch);
    for (;;) {
        if (signal_pending_stop()) {
            say("Terminated while hung");
            workers_stop();
            exit(0);
        }
        sleep_seconds(SIGNAL_POLL_S);
    }
}

static const char *signal_label(int sig)
{
    return sig == SIGTERM ? "SIGTERM" : "SIGINT";
}

/* Handles SIGTERM/SIGINT: checkpoint the last completed epoch, stop workers, exit 0. */
static void training_stop(int sig, const struct train_state *st, long epochs) __attribute__((noreturn));
static void training_stop(int sig, const struct train_state *st, long epochs)
{
    char path[PATH_MAX];
    if (st->epoch == 0) {
        say("Received %s before the first epoch, no checkpoint", signal_label(sig));
    } else if (checkpoint_write(st, epochs, path, sizeof path) == 0) {
        say("Received %s, checkpoint saved to %s", signal_label(sig), path);
    } else {
        fprintf(stderr, PROG ": cannot write checkpoint to '%s': %s\n", st->ckdir, strerror(errno));
        workers_stop();
        exit(1);
    }
    workers_stop();
    exit(0);
}

/* Fault injection at the start of an epoch: crash, hang, leak. */
static void epoch_begin(long epoch, const struct options *o, const struct train_state *st)
{
    if (o->crash_at == epoch && (!st->resumed || o->crash_always)) {
        fflush(stdout);
        fprintf(stderr, "Simulated crash at epoch %ld\n", epoch);
        exit(1);
    }
    if (o->hang_at == epoch && (!st->resumed || o->crash_always))
        hang_forever(epoch);
    leak_allocate(o->leak_mb);
}

/* Records a finished epoch: loss line, then a checkpoint when one is due. */
static void epoch_finish(long epoch, const struct options *o, struct train_state *st)
{
    char path[PATH_MAX];
    st->epoch = epoch;
    st->loss = loss_for_epoch(epoch, &st->rng);
    say("Epoch %ld/%ld loss=%.4f", epoch, o->epochs, st->loss);
    if (o->checkpoint_every <= 0 || epoch % o->checkpoint_every != 0)
        return;
    if (checkpoint_write(st, o->epochs, path, sizeof path) != 0) {
        fprintf(stderr, PROG ": cannot write checkpoint to '%s': %s\n", st->ckdir, strerror(errno));
        workers_stop();
        exit(1);
    }
    say("Saved checkpoint %s", path);
}

static void training_run(const struct options *o, struct train_state *st)
{
    for (long epoch = st->epoch + 1; epoch <= o->epochs; epoch++) {
        int sig = signal_pending_stop();
        if (sig)
            training_stop(sig, st, o->epochs);
        epoch_begin(epoch, o, st);
        sig = epoch_wait(o->epoch_time, o->cpu_burn);
        if (sig)
            training_stop(sig, st, o->epochs);
        epoch_finish(epoch, o, st);
    }
    say("Training complete");
    workers_stop();
}

/* Fresh state from --seed, or the state saved in the --resume checkpoint. */
static void state_init(struct options *o, struct train_state *st)
{
    long saved_epochs = 0;
    memset(st, 0, sizeof *st);
    st->seed = o->seed;
    st->rng = rng_seed(o->seed);
    checkpoint_dir_choose(o, st);
    if (!o->resume)
        return;
    checkpoint_load(o->resume, st, &saved_epochs);
    if (!o->epochs_set)
        o->epochs = saved_epochs;
}

int main(int argc, char **argv)
{
    struct options o;
    struct train_state st;
    setvbuf(stdout, NULL, _IOLBF, 0);
    options_parse(argc, argv, &o);
    state_init(&o, &st);
    signals_install(o.ignore_term);
    say("train-sim: pid %d, %ld epochs", (int)getpid(), o.epochs);
    if (st.resumed)
        say("Resumed from %s at epoch %ld", o.resume, st.epoch);
    if (o.orphan)
        orphan_spawn();
    workers_spawn(&o);
    filler_start(o.print_rate);
    training_run(&o, &st);
    return 0;
}
