/**
 * Long tasks through Redis + BullMQ (a study's runs: minutes to days each), with the files that
 * make up each task's state kept in Redis beside its job, so that a task whose worker dies goes
 * on elsewhere from what it last saved, on any machine that reaches the server.
 *
 * - A coordinator adds one job per task (its id is the task's; a job already there for it is
 *   waited on, one that ended unfinished is added again) and waits for all of them; a finished
 *   task's files are handed to it, then deleted from Redis.
 * - A worker takes jobs, gives the handler the task's files, and stores the files the handler
 *   saves (all of a task's files in one HSET, so a reader sees one consistent set). BullMQ renews
 *   the job's lock while the handler runs (the handler must leave the event loop free: the study
 *   runs its task in a child process); a worker that dies loses the lock, and another worker's
 *   stalled-job check puts the job back in the queue.
 * - A stop (the coordinator's signal) is a key the workers watch: their handlers stop, save, and
 *   end their jobs unfinished, and waiting jobs are withdrawn. Running the coordinator again
 *   continues every task.
 *
 * Everything lives under `hesse:<run>:tasks:`; the coordinator gives it a TTL (`ttlMs`, renewed
 * every minute while it waits), so a study whose coordinator went away leaves nothing for good.
 */
export { TaskKeys, type Task, type TaskOutcome } from './taskKeys.js';
export type { TaskFiles } from './taskFiles.js';
export { runTasks, taskWorkerSlots, type RunTasksOptions } from './taskOwner.js';
export { serveTasks, type ServeTasksOptions, type TaskContext, type TaskWorkerEvent } from './taskWorker.js';
