// settleWithin: the work's result in time, the fallback after the bound, a throwing fallback as a rejection.
import { strict as assert } from 'node:assert';
import { settleWithin } from '../../src/run/deadline';

describe('settleWithin', () => {
  it('gives the work\'s result when it settles in time, and its rejection as is', async () => {
    assert.equal(await settleWithin(Promise.resolve('done'), 1_000, () => 'late'), 'done');
    await assert.rejects(settleWithin(Promise.reject(new Error('boom')), 1_000, () => 'late'), /boom/);
  });

  it('gives the fallback after the bound, or rejects with what the fallback throws', async () => {
    const never = new Promise<string>(() => undefined);
    assert.equal(await settleWithin(never, 20, () => 'late'), 'late');
    await assert.rejects(settleWithin(never, 20, () => { throw new Error('timed out: the step'); }), /timed out: the step/);
  });
});
