import t from 'tap';
import { SOP_CLASS, TRANSFER_SYNTAX, aeTitleField, checkAeTitle, isUidSyntax, isValidAeTitle, isValidUid, readAeTitleField } from '../../../src/protocols/dicom/index.ts';

t.test('UID validation (PS3.5 §9.1)', async (t) => {
  for (const uid of [...Object.values(SOP_CLASS), ...Object.values(TRANSFER_SYNTAX), '0', '1.0.2', `1.${'2'.repeat(62)}`]) {
    t.ok(isValidUid(uid), `valid: ${uid}`);
  }
  for (const uid of ['', '.', '1.', '.1', '1..2', '1.02', '01', '1.2.a', '1.2 ', '1.2\0', `1.${'2'.repeat(63)}`, '1,2', '-1']) {
    t.notOk(isValidUid(uid), `invalid: ${JSON.stringify(uid)}`);
  }
  t.ok(isUidSyntax('1.02.3'), 'decoders tolerate leading zeros');
  t.notOk(isUidSyntax('1.2.x'));
});

t.test('AE titles (PS3.5 §6.2)', async (t) => {
  const good: Array<[string, string]> = [
    ['STORESCP', 'STORESCP'], ['  CT 1  ', 'CT 1'], ['A'.repeat(16), 'A'.repeat(16)], [` ${'B'.repeat(16)} `, 'B'.repeat(16)], ['x-y_z.!~', 'x-y_z.!~'],
  ];
  for (const [input, value] of good) t.same(checkAeTitle(input), { ok: true, value }, `valid: ${JSON.stringify(input)}`);
  for (const input of ['', '    ', 'A'.repeat(17), 'BACK\\SLASH', 'TAB\tX', 'NUL\0', 'CAFÉ', 'DEL\x7f']) {
    t.notOk(isValidAeTitle(input), `invalid: ${JSON.stringify(input)} (${(checkAeTitle(input) as { reason?: string }).reason})`);
  }
  t.equal(aeTitleField('CT 1')?.toString('latin1'), 'CT 1            ', 'field is space padded to 16');
  t.equal(aeTitleField('A'.repeat(17)), undefined, '17 bytes cannot be encoded');
  t.same(readAeTitleField(Buffer.from('PACS\0\0\0\0\0\0\0\0\0\0\0\0', 'latin1')), { ok: true, value: 'PACS' }, 'trailing NULs ignored');
});
