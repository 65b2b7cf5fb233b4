/**
 * Found in review: any LDH label passed, so `xn--zz` (not Punycode) or `ab--c` (reserved, RFC 5890
 * §2.3.1) could be ordered and issued. A-labels must be valid (RFC 5891 §5.4, CA/B BR 7.1.4.2): they
 * decode to a valid U-label that encodes back to the same label.
 */
import t from 'tap';
import { normalizeDnsName } from '../../src/pki/names.ts';

t.test('valid A-labels and ordinary hyphens pass', async (t) => {
  const ok: Array<[string, string]> = [
    ['xn--bcher-kva.klinikum.internal', 'xn--bcher-kva.klinikum.internal'], // bücher
    ['XN--STRAE-OQA.klinikum.internal.', 'xn--strae-oqa.klinikum.internal'], // straße, case and the dot ignored
    ['pacs.xn--55qx5d', 'pacs.xn--55qx5d'], // 公司
    ['a-b--c.klinikum.internal', 'a-b--c.klinikum.internal'], // "--" in positions 4-5: not reserved
    ['ct-1.rad.klinikum.internal', 'ct-1.rad.klinikum.internal'],
  ];
  for (const [name, want] of ok) t.equal(normalizeDnsName(name), want, name);
});

t.test('invalid A-labels and reserved labels are refused', async (t) => {
  const refused: Array<[string, RegExp]> = [
    ['xn--zz.klinikum.internal', /"xn--zz" is not a valid IDNA A-label/], // not Punycode
    ['xn--a.klinikum.internal', /"xn--a" is not a valid IDNA A-label/],
    ['xn--bcher-kva9.klinikum.internal', /"xn--bcher-kva9" is not a valid IDNA A-label/], // trailing garbage
    ['xn--bucher-xyd.klinikum.internal', /not a valid IDNA A-label/], // decomposed u + U+0308: not NFC
    ['xn--wca.klinikum.internal', /not a valid IDNA A-label/], // U+00DC upper case: not a valid U-label
    ['pacs.xn--zz', /not a valid IDNA A-label/], // any label, not only the first
    ['ab--c.klinikum.internal', /"ab--c" is reserved \(RFC 5890 §2\.3\.1/],
    ['r3--pacs.klinikum.internal', /"r3--pacs" is reserved/],
    ['pacs.ZZ--x.internal', /"zz--x" is reserved/],
  ];
  for (const [name, message] of refused) t.throws(() => normalizeDnsName(name), { code: 'NAME_INVALID', message }, name);
});
