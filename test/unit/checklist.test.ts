// Checklist cells: items, ticking, and who confirmed what.
import { strict as assert } from 'node:assert';
import { checklistItems, confirmItems, pendingItems, tickItems } from '../../src/engines/checklist';

describe('checklist engine', () => {
  const src = '- [ ] Window confirmed\n- [x] Backup verified\n  - [ ] nested item\n1. [ ] Numbered';

  it('reads every task item, nested and numbered ones included', () => {
    assert.deepEqual(checklistItems(src).map((i) => [i.line, i.text, i.checked]), [
      [0, 'Window confirmed', false],
      [1, 'Backup verified', true],
      [2, 'nested item', false],
      [3, 'Numbered', false],
    ]);
  });

  it('treats an item ticked in the text but never recorded as still pending', () => {
    assert.deepEqual(pendingItems(src, []).map((i) => i.text), ['Window confirmed', 'Backup verified', 'nested item', 'Numbered']);
  });

  it('ticks only the confirmed items and changes no other byte', () => {
    assert.equal(tickItems(src, [0, 3]), '- [x] Window confirmed\n- [x] Backup verified\n  - [ ] nested item\n1. [x] Numbered');
  });

  it('records who confirmed each item and when, keeping earlier confirmations', () => {
    const first = confirmItems('- [ ] a\n- [ ] b', [], [{ item: { line: 0, text: 'a', checked: false }, at: new Date('2026-11-28T02:00:00Z') }], 'alice');
    assert.equal(first.source, '- [x] a\n- [ ] b');
    assert.deepEqual(first.pending.map((p) => p.text), ['b']);
    const prev = [{ record: { status: 'error', items: first.items } }];
    const second = confirmItems(first.source, prev, [{ item: { line: 1, text: 'b', checked: false }, at: new Date('2026-11-28T02:05:00Z') }], 'bob');
    assert.deepEqual(second.items, [
      { text: 'a', by: 'alice', at: '2026-11-28T02:00:00.000Z' },
      { text: 'b', by: 'bob', at: '2026-11-28T02:05:00.000Z' },
    ]);
    assert.deepEqual(second.pending, []);
  });
});

describe('checklist engine: text and record agree', () => {
  it('unticks an item ticked in the text that the operator did not confirm', () => {
    const r = confirmItems('- [x] Pre-ticked by the author\n- [ ] Other', [], [{ item: { line: 1, text: 'Other', checked: false }, at: new Date(0) }], 'alice');
    assert.equal(r.source, '- [ ] Pre-ticked by the author\n- [x] Other');
    assert.deepEqual(r.pending.map((p) => p.text), ['Pre-ticked by the author']);
  });
});
