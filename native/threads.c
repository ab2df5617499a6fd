#include "threads.h"

#include <pthread.h>
#include <stdatomic.h>

/*
 * Starting a thread costs tens of microseconds on a VM, as much as a mid-sized GEMM, so the
 * workers persist: after a job they spin briefly (the next kernel call usually follows at once),
 * then sleep on a condition variable. One caller owns the pool at a time; a concurrent caller
 * (another worker_thread of Node) runs its job on its own thread instead.
 */

#define MAX_WORKERS 63
#define SPIN_ROUNDS 4000

static struct {
  pthread_mutex_t mu; /* guards the job fields and `next` */
  pthread_cond_t wake, done;
  int nworkers;
  atomic_ulong generation; /* one increment per job */
  atomic_int finished;     /* chunks of the current job that are done */
  hesse_task task;
  void *ctx;
  int nchunks, next, helpers;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, 0, 0};

static pthread_mutex_t owner = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Claims and runs chunks of the current job until none are left. Called and returns with pool.mu held. */
static void drain(void) {
  while (pool.next < pool.nchunks) {
    const int c = pool.next++;
    const hesse_task task = pool.task;
    void *ctx = pool.ctx;
    const int n = pool.nchunks;
    pthread_mutex_unlock(&pool.mu);
    task(ctx, c, n);
    pthread_mutex_lock(&pool.mu);
    if (atomic_fetch_add_explicit(&pool.finished, 1, memory_order_acq_rel) + 1 == n) pthread_cond_signal(&pool.done);
  }
}

typedef struct {
  int id;
  unsigned long seen;
  atomic_int copied;
} worker_start;

static void *worker(void *arg) {
  worker_start *start = (worker_start *)arg;
  const int id = start->id;
  unsigned long seen = start->seen;
  atomic_store_explicit(&start->copied, 1, memory_order_release); /* the caller may reuse *start now */
  for (;;) {
    for (int s = 0; s < SPIN_ROUNDS && atomic_load_explicit(&pool.generation, memory_order_acquire) == seen; s++) relax();
    pthread_mutex_lock(&pool.mu);
    while (atomic_load_explicit(&pool.generation, memory_order_acquire) == seen) pthread_cond_wait(&pool.wake, &pool.mu);
    seen = atomic_load_explicit(&pool.generation, memory_order_acquire);
    if (id < pool.helpers) drain();
    pthread_mutex_unlock(&pool.mu);
  }
  return 0;
}

/* A forked child has the pool's memory but none of its threads. */
static void reset_in_child(void) {
  pthread_mutex_init(&pool.mu, 0);
  pthread_cond_init(&pool.wake, 0);
  pthread_cond_init(&pool.done, 0);
  pthread_mutex_init(&owner, 0);
  pool.nworkers = 0;
}

static void register_atfork(void) { pthread_atfork(0, 0, reset_in_child); }

/* Starts workers until there are `want`; returns how many there are. Called with `owner` held. */
static int grow_pool(int want) {
  if (want > MAX_WORKERS) want = MAX_WORKERS;
  while (pool.nworkers < want) {
    worker_start start;
    start.id = pool.nworkers;
    start.seen = atomic_load(&pool.generation);
    atomic_init(&start.copied, 0);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    const int ok = pthread_create(&t, &attr, worker, &start) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) break;
    while (!atomic_load_explicit(&start.copied, memory_order_acquire)) relax();
    pool.nworkers++;
  }
  return pool.nworkers;
}

void hesse_parallel(int nchunks, int threads, hesse_task task, void *ctx) {
  if (nchunks <= 0) return;
  if (threads > nchunks) threads = nchunks;
  if (threads <= 1 || (pthread_once(&atfork_once, register_atfork), pthread_mutex_trylock(&owner) != 0)) {
    for (int c = 0; c < nchunks; c++) task(ctx, c, nchunks);
    return;
  }
  const int helpers = grow_pool(threads - 1);
  pthread_mutex_lock(&pool.mu);
  pool.task = task;
  pool.ctx = ctx;
  pool.nchunks = nchunks;
  pool.next = 0;
  pool.helpers = helpers;
  atomic_store_explicit(&pool.finished, 0, memory_order_relaxed);
  atomic_fetch_add_explicit(&pool.generation, 1, memory_order_release);
  pthread_cond_broadcast(&pool.wake);
  drain();
  pthread_mutex_unlock(&pool.mu);
  /* the chunks other threads claimed may still be running */
  for (int s = 0; s < SPIN_ROUNDS && atomic_load_explicit(&pool.finished, memory_order_acquire) < nchunks; s++) relax();
  pthread_mutex_lock(&pool.mu);
  while (atomic_load_explicit(&pool.finished, memory_order_acquire) < nchunks) pthread_cond_wait(&pool.done, &pool.mu);
  pool.helpers = 0; /* a worker that wakes up late finds nothing to do */
  pthread_mutex_unlock(&pool.mu);
  pthread_mutex_unlock(&owner);
}
