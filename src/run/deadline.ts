// One bound on a wait: a promise raced against a timer, the timer always cleared.

/**
 * Resolves what `work` settles with, or, when it has not settled after `ms` (milliseconds), what `late()` returns
 * (rejecting if `late` throws). `work` is not cancelled: a caller that must stop it aborts it itself.
 * @throws whatever `work` rejects with, or `late` throws
 */
export async function settleWithin<T, F>(work: PromiseLike<T>, ms: number, late: () => F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<F>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(late());
      } catch (e) {
        reject(e);
      }
    }, ms);
  });
  try {
    return await Promise.race([Promise.resolve(work), bound]);
  } finally {
    clearTimeout(timer);
  }
}
