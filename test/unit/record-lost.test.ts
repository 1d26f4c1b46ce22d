// What a run says when a record could not be written: each effect names the cell, the errno and what the database has.
import { strict as assert } from 'node:assert';
import { RecordLostError, type RecordLost, type RecordLostEffect } from '../../src/run/record-lost';

describe('RecordLostError', () => {
  const base: RecordLost = { cell: { number: 3, name: 'backfill' }, effect: 'committed', code: 'ENOSPC', detail: 'no space left on device', target: 'prod-main', stage: 'journal', journal: '/m/x.runbook.journal' };

  it('says a committed autocommit cell is in the database and not in the file', () => {
    const e = new RecordLostError(base);
    assert.match(e.message, /^cell 3 \(backfill\) committed on prod-main but its record could not be written \(ENOSPC: no space left on device\): the database has its effect, this file does not say so\./);
    assert.match(e.message, /stopped before the next cell and closed its session/);
    assert.equal(e.lost.code, 'ENOSPC');
  });

  it('tells a rolled-back span from a committed one, naming its cells', () => {
    const rolled = new RecordLostError({ ...base, effect: 'rolled back', span: [1, 2, 3] }).message;
    assert.match(rolled, /ran in the transaction of cells 1, 2, 3 on prod-main .* rolled the transaction back, so the database has nothing of cells 1, 2, 3/);
    assert.doesNotMatch(rolled, /committed/);
    const committed = new RecordLostError({ ...base, span: [1, 2, 3] }).message;
    assert.match(committed, /committed the transaction of cells 1, 2, 3 on prod-main .* the database has the effect of cells 1, 2, 3/);
  });

  it('says where the record is when only the checkpoint failed', () => {
    const e = new RecordLostError({ ...base, code: 'EACCES', detail: 'permission denied', stage: 'checkpoint' });
    assert.match(e.message, /could not be rewritten \(EACCES: permission denied\); its record and every earlier one of this run are in \/m\/x\.runbook\.journal/);
  });

  it('has words for every effect, each naming the cell and the errno', () => {
    const effects: RecordLostEffect[] = ['committed', 'rolled back', 'ran', 'failed', 'not run', 'recorded', 'unknown'];
    const texts = effects.map((effect) => new RecordLostError({ ...base, effect }).message);
    for (const t of texts) assert.match(t, /cell 3 \(backfill\).*ENOSPC/);
    assert.equal(new Set(texts).size, effects.length);
  });
});
