/* Fork-join over a small pool of persistent POSIX threads. */
#ifndef HESSE_THREADS_H
#define HESSE_THREADS_H

typedef void (*hesse_task)(void *ctx, int chunk, int nchunks);

/*
 * Runs task(ctx, c, nchunks) once for every c in 0..nchunks-1 on up to `threads` threads (the
 * caller is one of them) and returns when all are done. Chunks are claimed one at a time, so a
 * thread that the OS schedules late just takes fewer of them: on a shared machine nobody waits
 * for a straggler. Which thread runs a chunk varies; what a chunk computes must not.
 */
void hesse_parallel(int nchunks, int threads, hesse_task task, void *ctx);

#endif
