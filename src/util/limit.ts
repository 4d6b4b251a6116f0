/** Runs at most `concurrency` tasks at once; the rest wait in FIFO order. */
export function limiter(concurrency: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  const next = () => {
    if (active >= concurrency) return;
    const start = queue.shift();
    if (start) {
      active++;
      start();
    }
  };
  return <T>(task: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      queue.push(() => {
        task()
          .then(resolve, reject)
          .finally(() => {
            active--;
            next();
          });
      });
      next();
    });
}

/** A counting semaphore: at most `permits` holders at once, waiters served in FIFO order. */
export interface Semaphore {
  acquire(): Promise<void>;
  /** Takes a permit if one is free now (and nobody is waiting for one). */
  tryAcquire(): boolean;
  release(): void;
}

export function semaphore(permits: number): Semaphore {
  let free = permits;
  const waiting: (() => void)[] = [];
  return {
    acquire() {
      if (free > 0) {
        free--;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    tryAcquire() {
      if (free > 0 && waiting.length === 0) {
        free--;
        return true;
      }
      return false;
    },
    release() {
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
  };
}
