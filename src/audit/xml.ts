/** Minimal XML writing for audit messages: escaping and attribute lists, no pretty-printing (one line per record). */
const ENTITIES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;' };

/**
 * TAB, LF and CR become character references: raw, they would end the record's line in the file sink
 * (peer text such as a certificate CN reaches attributes), and XML attribute normalisation would turn
 * them into spaces anyway. Other C0 controls are not allowed in XML 1.0 at all and are dropped.
 */
export function escapeXml(value: string): string {
  return value.replace(/[<>&"'\u0000-\u001f]/g, (c) => ENTITIES[c] ?? '');
}

export function element(name: string, attrs: Record<string, string | number | boolean | undefined>, children = ''): string {
  const list = Object.entries(attrs).filter(([, v]) => v !== undefined).map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`).join('');
  return children ? `<${name}${list}>${children}</${name}>` : `<${name}${list}/>`;
}
